//! What the emulated model says: the deterministic echo answer, scripted steps, token counts,
//! and how answers are cut into streaming deltas. Flavour-independent.

use super::{ScriptStep, ServingState};
use serde_json::{Map, Value};

/// Prefix of every unscripted answer: `kiln-emulator: <echo of the last user turn>`.
pub const ANSWER_MARKER: &str = "kiln-emulator:";
/// Longest echo (in characters) an answer carries; longer input is cut there.
pub const ECHO_MAX_CHARS: usize = 4000;
/// Text parts starting with one of these are context injected by agent CLIs, not the prompt.
const INJECTED_PREFIXES: &[&str] = &[
    "<system-reminder>",
    "<environment_context>",
    "<user_instructions>",
];
/// Most deltas one streamed text is split into (words are grouped beyond that).
const MAX_TEXT_DELTAS: usize = 48;
/// Fragments streamed tool arguments are split into (at most).
const JSON_DELTAS: usize = 4;

/// One piece of the last user turn, as a flavour's parser found it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Part {
    Text(String),
    ToolResult(String),
}

/// The answer to one model call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Answer {
    /// Per-state sequence number, used to build ids (`msg_emu00000001`, …).
    pub seq: u64,
    pub body: AnswerBody,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Text or one tool call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum AnswerBody {
    Text(String),
    ToolCall { name: String, arguments: Value },
}

impl Answer {
    /// Answers a call to `endpoint` whose last user turn is `turn` and whose whole body is
    /// `body`: the next scripted step for it if one is queued, else the echo.
    pub(crate) fn next(state: &ServingState, endpoint: &str, turn: &[Part], body: &Value) -> Self {
        let (seq, step) = state.next_step(endpoint);
        let body_out = match step {
            Some(ScriptStep::Text(text)) => AnswerBody::Text(text),
            Some(ScriptStep::ToolCall { name, arguments }) => {
                AnswerBody::ToolCall { name, arguments }
            }
            None => AnswerBody::Text(echo(turn)),
        };
        let output_tokens = match &body_out {
            AnswerBody::Text(text) => words(text),
            AnswerBody::ToolCall { name, arguments } => words(name) + words(&arguments.to_string()),
        }
        .max(1);
        Self {
            seq,
            body: body_out,
            input_tokens: input_tokens(body),
            output_tokens,
        }
    }

    /// A 8-digit id suffix unique within the state, e.g. `emu00000007`.
    pub(crate) fn id(&self, prefix: &str) -> String {
        format!("{prefix}emu{:08}", self.seq)
    }
}

/// The echo answer for a last user turn (see the module docs of `serving`).
pub(crate) fn echo(turn: &[Part]) -> String {
    let prompt = turn.iter().rev().find_map(|p| match p {
        Part::Text(t) if !is_injected(t) => Some(t.clone()),
        _ => None,
    });
    let echoed = match prompt {
        Some(text) => text,
        None => match turn.iter().rev().find_map(|p| match p {
            Part::ToolResult(r) => Some(r.clone()),
            Part::Text(_) => None,
        }) {
            Some(result) => format!("tool result: {result}"),
            None => match turn.last() {
                Some(Part::Text(t)) => t.clone(),
                _ => "(no user message)".to_owned(),
            },
        },
    };
    let cut: String = echoed.chars().take(ECHO_MAX_CHARS).collect();
    format!("{ANSWER_MARKER} {cut}")
}

fn is_injected(text: &str) -> bool {
    let t = text.trim_start();
    INJECTED_PREFIXES.iter().any(|p| t.starts_with(p))
}

/// Whitespace-separated words of `text`.
pub(crate) fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Input tokens of a request: the words of every string in the body except `model` (min 1).
pub(crate) fn input_tokens(body: &Value) -> u64 {
    fn walk(v: &Value) -> u64 {
        match v {
            Value::String(s) => words(s),
            Value::Array(items) => items.iter().map(walk).sum(),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| k.as_str() != "model")
                .map(|(_, v)| walk(v))
                .sum(),
            _ => 0,
        }
    }
    walk(body).max(1)
}

/// The string field `key` of `v`, or `""`.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Text of a content value: a string, or the `text` fields of an array of parts joined by
/// newlines (other part kinds ignored).
pub(crate) fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Tool arguments as a JSON object (Anthropic `input`, Gemini `args`): objects as they are,
/// anything else wrapped as `{"value": …}`.
pub(crate) fn object_args(arguments: &Value) -> Value {
    match arguments {
        Value::Object(_) => arguments.clone(),
        other => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other.clone());
            Value::Object(map)
        }
    }
}

/// Splits text into streaming deltas at word boundaries (each delta is words plus the
/// whitespace after them); at most [`MAX_TEXT_DELTAS`], never empty.
pub(crate) fn text_deltas(text: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in text.chars() {
        let space = c.is_whitespace();
        if !space && in_space && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
        }
        in_space = space;
        current.push(c);
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    if pieces.len() <= MAX_TEXT_DELTAS {
        return pieces;
    }
    let per = pieces.len().div_ceil(MAX_TEXT_DELTAS);
    pieces.chunks(per).map(|c| c.concat()).collect()
}

/// Splits a JSON text into up to [`JSON_DELTAS`] fragments on character boundaries.
pub(crate) fn json_deltas(json: &str) -> Vec<String> {
    let chars: Vec<char> = json.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    let per = chars.len().div_ceil(JSON_DELTAS);
    chars.chunks(per).map(|c| c.iter().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn echo_prefers_last_real_text() {
        let turn = vec![
            Part::Text("first".into()),
            Part::Text("say hello".into()),
            Part::Text("<system-reminder>ctx</system-reminder>".into()),
        ];
        assert_eq!(echo(&turn), "kiln-emulator: say hello");
    }

    #[test]
    fn echo_of_tool_results_and_nothing() {
        let turn = vec![
            Part::ToolResult("42".into()),
            Part::Text("<system-reminder>x</system-reminder>".into()),
        ];
        assert_eq!(echo(&turn), "kiln-emulator: tool result: 42");
        assert_eq!(echo(&[]), "kiln-emulator: (no user message)");
        let only_injected = vec![Part::Text("<environment_context/>".into())];
        assert_eq!(
            echo(&only_injected),
            "kiln-emulator: <environment_context/>"
        );
    }

    #[test]
    fn echo_is_bounded() {
        let long = "x".repeat(ECHO_MAX_CHARS * 2);
        let answer = echo(&[Part::Text(long)]);
        assert_eq!(
            answer.chars().count(),
            ANSWER_MARKER.len() + 1 + ECHO_MAX_CHARS
        );
    }

    #[test]
    fn deltas_rejoin_to_the_text() {
        let text = "kiln-emulator: one  two\nthree ";
        let deltas = text_deltas(text);
        assert_eq!(deltas, vec!["kiln-emulator: ", "one  ", "two\n", "three "]);
        assert_eq!(deltas.concat(), text);
        let long: String = (0..500).map(|i| format!("w{i} ")).collect();
        let grouped = text_deltas(&long);
        assert!(grouped.len() <= MAX_TEXT_DELTAS && grouped.len() > 1);
        assert_eq!(grouped.concat(), long);
        assert_eq!(text_deltas(""), vec![String::new()]);
    }

    #[test]
    fn json_deltas_rejoin() {
        let s = json!({"command": "ls -la", "é": "ü"}).to_string();
        let parts = json_deltas(&s);
        assert!(parts.len() > 1 && parts.len() <= JSON_DELTAS);
        assert_eq!(parts.concat(), s);
    }

    #[test]
    fn token_counts_are_word_counts() {
        let body = json!({"model": "a b c", "messages": [{"role": "user", "content": "one two"}]});
        // "user" + "one two"
        assert_eq!(input_tokens(&body), 3);
        assert_eq!(input_tokens(&json!({})), 1);
        assert_eq!(words(" a  b\tc "), 3);
    }

    #[test]
    fn scripted_steps_come_first_then_echo() {
        let state = ServingState::new(vec![]);
        state.push_script(ScriptStep::ToolCall {
            name: "Bash".into(),
            arguments: json!({"command": "ls"}),
        });
        state.push_script(ScriptStep::Text("done".into()));
        let turn = vec![Part::Text("hi".into())];
        let body = json!({});
        let a = Answer::next(&state, "m", &turn, &body);
        assert!(matches!(a.body, AnswerBody::ToolCall { ref name, .. } if name == "Bash"));
        let b = Answer::next(&state, "m", &turn, &body);
        assert_eq!(b.body, AnswerBody::Text("done".into()));
        let c = Answer::next(&state, "m", &turn, &body);
        assert_eq!(c.body, AnswerBody::Text("kiln-emulator: hi".into()));
        assert_eq!((a.seq, b.seq, c.seq), (1, 2, 3));
        assert_eq!(c.id("msg_"), "msg_emu00000003");
    }

    #[test]
    fn scripted_steps_for_one_endpoint_skip_others() {
        let state = ServingState::new(vec![]);
        state.push_script_for("main", ScriptStep::Text("for main".into()));
        state.push_script(ScriptStep::Text("for anyone".into()));
        let turn = vec![Part::Text("hi".into())];
        let body = json!({});
        let small = Answer::next(&state, "small", &turn, &body);
        assert_eq!(small.body, AnswerBody::Text("for anyone".into()));
        let small = Answer::next(&state, "small", &turn, &body);
        assert_eq!(small.body, AnswerBody::Text("kiln-emulator: hi".into()));
        assert_eq!(state.script_len(), 1);
        let main = Answer::next(&state, "main", &turn, &body);
        assert_eq!(main.body, AnswerBody::Text("for main".into()));
        assert_eq!(state.script_len(), 0);
    }

    #[test]
    fn non_object_arguments_are_wrapped() {
        assert_eq!(object_args(&json!([1])), json!({"value": [1]}));
        assert_eq!(object_args(&json!({"a": 1})), json!({"a": 1}));
    }
}
