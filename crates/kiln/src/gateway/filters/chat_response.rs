//! Answer filters for the Chat Completions flavour: a tool call named `databricks-tool-call`
//! whose real name and arguments are inside its `arguments` is unwrapped, and
//! `finish_reason: "stop"` on an answer that made tool calls becomes `"tool_calls"`. For whole
//! JSON answers ([`fix_json`]) and, event by event, for streams ([`StreamFixer`]); a stream's
//! wrapped call is held back until its choice finishes, then sent unwrapped in one delta.

use super::super::sse::Event;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The name Databricks gives a tool call whose real name is in its arguments.
pub const WRAPPED_TOOL: &str = "databricks-tool-call";

/// Real name and arguments (as a JSON string) of a wrapped call's `arguments` text.
fn unwrap_arguments(arguments: &str) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(arguments).ok()?;
    let obj = v.as_object()?;
    let name = ["name", "tool_name", "function"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))?
        .to_owned();
    let args = ["arguments", "parameters", "input", "args"]
        .iter()
        .find_map(|k| obj.get(*k));
    let args = match args {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => {
            let rest: Map<String, Value> = obj
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "name" | "tool_name" | "function"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Value::Object(rest).to_string()
        }
    };
    Some((name, args))
}

/// Unwraps one complete tool call (`{"function": {"name", "arguments"}}`) in place.
pub fn unwrap_tool_call(call: &mut Value) -> bool {
    let Some(function) = call.get_mut("function") else {
        return false;
    };
    if function.get("name").and_then(Value::as_str) != Some(WRAPPED_TOOL) {
        return false;
    }
    let Some(args) = function.get("arguments").and_then(Value::as_str) else {
        return false;
    };
    let Some((name, args)) = unwrap_arguments(args) else {
        return false;
    };
    function["name"] = Value::String(name);
    function["arguments"] = Value::String(args);
    true
}

/// Both fixes on a whole `chat.completion` answer.
pub fn fix_json(answer: &mut Value) -> bool {
    let Some(choices) = answer.get_mut("choices").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    for choice in choices {
        let calls = choice
            .get_mut("message")
            .and_then(|m| m.get_mut("tool_calls"))
            .and_then(Value::as_array_mut);
        let made_calls = match calls {
            Some(calls) => {
                for c in calls.iter_mut() {
                    changed |= unwrap_tool_call(c);
                }
                !calls.is_empty()
            }
            None => false,
        };
        if made_calls && choice.get("finish_reason").and_then(Value::as_str) == Some("stop") {
            choice["finish_reason"] = Value::String("tool_calls".to_owned());
            changed = true;
        }
    }
    changed
}

/// A wrapped call being held back: its id and arguments so far.
#[derive(Debug, Default)]
struct Held {
    id: Option<String>,
    arguments: String,
}

/// Applies both fixes to a Chat Completions stream, one complete event at a time.
#[derive(Debug, Default)]
pub struct StreamFixer {
    /// Choices that made (unwrapped or ordinary) tool calls.
    with_calls: BTreeSet<u64>,
    /// Wrapped calls held back, by (choice, call index).
    held: BTreeMap<(u64, u64), Held>,
    /// `id`, `created`, `model` of the latest chunk, for synthesized ones.
    envelope: Map<String, Value>,
}

impl StreamFixer {
    /// A fixer for one stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes to send for `event`: unchanged unless a fix applies.
    pub fn fix(&mut self, event: &Event) -> Vec<Bytes> {
        let interesting = event.contains(b"tool_calls")
            || event.contains(b"\"stop\"")
            || event.contains(b"[DONE]");
        if !interesting {
            return vec![event.raw.clone()];
        }
        let (name, data) = event.fields();
        if data == "[DONE]" {
            let mut out = self.flush_all();
            out.push(event.raw.clone());
            return out;
        }
        let Ok(mut chunk) = serde_json::from_str::<Value>(&data) else {
            return vec![event.raw.clone()];
        };
        let mut out = Vec::new();
        let changed = self.fix_chunk(&mut chunk, &mut out);
        if changed {
            out.push(encode(name.as_deref(), &chunk));
        } else {
            out.push(event.raw.clone());
        }
        out
    }

    fn fix_chunk(&mut self, chunk: &mut Value, before: &mut Vec<Bytes>) -> bool {
        for key in ["id", "created", "model", "object"] {
            if let Some(v) = chunk.get(key) {
                self.envelope.insert(key.to_owned(), v.clone());
            }
        }
        let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) else {
            return false;
        };
        let mut changed = false;
        for (pos, choice) in choices.iter_mut().enumerate() {
            let ci = choice
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            if let Some(delta) = choice.get_mut("delta") {
                changed |= self.take_calls(ci, delta);
            }
            let finish = choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .map(str::to_owned);
            if let Some(reason) = finish {
                before.extend(self.flush_choice(ci));
                if reason == "stop" && self.with_calls.contains(&ci) {
                    choice["finish_reason"] = Value::String("tool_calls".to_owned());
                    changed = true;
                }
            }
        }
        changed
    }

    /// Notes ordinary calls, and moves wrapped calls' deltas out of `delta` into `held`.
    fn take_calls(&mut self, ci: u64, delta: &mut Value) -> bool {
        let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) else {
            return false;
        };
        let n = calls.len();
        let mut kept = Vec::with_capacity(n);
        for (pos, call) in calls.drain(..).enumerate() {
            let idx = call
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(pos as u64);
            let function = call.get("function");
            let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
            let args = function
                .and_then(|f| f.get("arguments"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if name == Some(WRAPPED_TOOL) || (name.is_none() && self.held.contains_key(&(ci, idx)))
            {
                let held = self.held.entry((ci, idx)).or_default();
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    held.id = Some(id.to_owned());
                }
                held.arguments.push_str(args);
                continue;
            }
            self.with_calls.insert(ci);
            kept.push(call);
        }
        let changed = kept.len() != n;
        if kept.is_empty() && changed {
            if let Some(d) = delta.as_object_mut() {
                d.remove("tool_calls");
            }
        } else {
            *calls = kept;
        }
        changed
    }

    /// The held calls of choice `ci`, unwrapped, as one synthesized chunk.
    fn flush_choice(&mut self, ci: u64) -> Vec<Bytes> {
        let keys: Vec<(u64, u64)> = self
            .held
            .keys()
            .filter(|(c, _)| *c == ci)
            .copied()
            .collect();
        if keys.is_empty() {
            return Vec::new();
        }
        let mut calls = Vec::new();
        for key in keys {
            let Some(held) = self.held.remove(&key) else {
                continue;
            };
            let mut call = json!({
                "index": key.1,
                "type": "function",
                "function": {"name": WRAPPED_TOOL, "arguments": held.arguments},
            });
            if let Some(id) = held.id {
                call["id"] = Value::String(id);
            }
            unwrap_tool_call(&mut call);
            calls.push(call);
        }
        self.with_calls.insert(ci);
        let mut chunk = Value::Object(self.envelope.clone());
        chunk["choices"] =
            json!([{"index": ci, "delta": {"tool_calls": calls}, "finish_reason": null}]);
        vec![encode(None, &chunk)]
    }

    /// Held calls of every choice, unwrapped (at the end of a stream without `[DONE]`).
    pub fn finish(&mut self) -> Vec<Bytes> {
        self.flush_all()
    }

    fn flush_all(&mut self) -> Vec<Bytes> {
        let choices: BTreeSet<u64> = self.held.keys().map(|(c, _)| *c).collect();
        choices
            .into_iter()
            .flat_map(|c| self.flush_choice(c))
            .collect()
    }
}

fn encode(name: Option<&str>, data: &Value) -> Bytes {
    match name {
        Some(n) => Bytes::from(format!("event: {n}\ndata: {data}\n\n")),
        None => Bytes::from(format!("data: {data}\n\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::sse::Splitter;

    fn run(text: &str) -> String {
        let mut fixer = StreamFixer::new();
        let mut splitter = Splitter::new();
        let mut out = Vec::new();
        for ev in splitter.push(text.as_bytes()) {
            for b in fixer.fix(&ev) {
                out.extend_from_slice(&b);
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn datas(text: &str) -> Vec<Value> {
        text.split("\n\n")
            .filter_map(|b| b.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn json_answers() {
        let mut v = json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": WRAPPED_TOOL,
                "arguments": "{\"name\":\"bash\",\"arguments\":{\"cmd\":\"ls\"}}"}}]}}]});
        assert!(fix_json(&mut v));
        assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
        let f = &v["choices"][0]["message"]["tool_calls"][0]["function"];
        assert_eq!(f["name"], "bash");
        assert_eq!(
            serde_json::from_str::<Value>(f["arguments"].as_str().unwrap()).unwrap(),
            json!({"cmd": "ls"})
        );

        let valid = json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}},
            {"index": 1, "finish_reason": "tool_calls", "message": {"tool_calls": [{"id": "c", "function": {"name": "ls", "arguments": "{}"}}]}}]});
        let mut v = valid.clone();
        assert!(!fix_json(&mut v));
        assert_eq!(v, valid);
    }

    #[test]
    fn unwrap_shapes() {
        assert_eq!(
            unwrap_arguments(r#"{"name":"a","arguments":"{\"x\":1}"}"#),
            Some(("a".into(), "{\"x\":1}".into()))
        );
        assert_eq!(
            unwrap_arguments(r#"{"tool_name":"a","x":1}"#),
            Some(("a".into(), "{\"x\":1}".into()))
        );
        assert_eq!(unwrap_arguments(r#"{"x":1}"#), None);
        assert_eq!(unwrap_arguments("not json"), None);
        let mut call = json!({"function": {"name": WRAPPED_TOOL, "arguments": "{}"}});
        assert!(!unwrap_tool_call(&mut call));
        assert_eq!(call["function"]["name"], WRAPPED_TOOL);
    }

    #[test]
    fn stream_finish_reason_after_tool_calls() {
        let text = concat!(
            "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"ls\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        let out = run(text);
        let d = datas(&out);
        assert_eq!(d.len(), 3);
        assert_eq!(d[2]["choices"][0]["finish_reason"], "tool_calls");
        assert!(out.ends_with("data: [DONE]\n\n"));
        // The first two events pass byte for byte.
        assert!(out.starts_with(&text[..text.find("\n\n").unwrap() + 2]));
    }

    #[test]
    fn stream_wrapped_call_is_unwrapped_before_finish() {
        let text = concat!(
            "data: {\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"databricks-tool-call\",\"arguments\":\"{\\\"name\\\":\\\"read\\\",\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"arguments\\\":{\\\"path\\\":\\\"a\\\"}}\"}}]},\"finish_reason\":null}]}\n\n",
            "data: {\"id\":\"x\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: [DONE]\n\n"
        );
        let d = datas(&run(text));
        assert_eq!(d.len(), 5);
        assert!(d[1]["choices"][0]["delta"].get("tool_calls").is_none());
        assert!(d[2]["choices"][0]["delta"].get("tool_calls").is_none());
        let call = &d[3]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["id"], "c1");
        assert_eq!(call["function"]["name"], "read");
        assert_eq!(call["function"]["arguments"], "{\"path\":\"a\"}");
        assert_eq!(d[3]["model"], "m");
        assert_eq!(d[4]["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn plain_text_stream_passes_unchanged() {
        let text = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n",
            "data: [DONE]\n\n"
        );
        assert_eq!(run(text), text);
    }
}
