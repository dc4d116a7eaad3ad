//! The gateway's URL layout: one prefix per agent (`/claude`, `/codex`, `/gemini`, `/opencode`,
//! `/hermes`, and the generic `/anthropic`, `/openai`, `/google`), and the wire flavour decided
//! from the path after the prefix. Anything else is an unknown path (answered with a
//! Databricks-style 404, which is what Hermes' local-server probes must see).
//!
//! Only model paths ever leave: every model call maps to one [`UpstreamPath`] of a fixed shape
//! per flavour, sent as separate, percent-encoded path segments ([`UpstreamPath::segments`]).
//! The one piece taken from the client, a Gemini model name, must be a plain name (letters,
//! digits, `.`, `-`, `_`, not starting with `.`), so backslashes, `..`, `%2e`, `%2f` or `%5c`
//! can never walk the upstream URL out of the model API.

use crate::agent::Agent;
use axum::http::Method;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a request is attributed to (by its path prefix): one of the agents, or anything using a
/// generic prefix (`/anthropic`, `/openai`, `/google`). Ordered agents first, then `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Caller {
    /// An agent's own prefix (`/claude`, `/codex`, `/gemini`, `/opencode`, `/hermes`).
    Agent(Agent),
    /// A generic prefix.
    Other,
}

impl Caller {
    /// Lower-case name (`claude`, …, `hermes`, `other`).
    pub fn name(self) -> &'static str {
        match self {
            Caller::Agent(a) => a.name(),
            Caller::Other => "other",
        }
    }

    /// Parses a lower-case name (an agent's, or `other`).
    pub fn from_name(name: &str) -> Option<Caller> {
        if name == "other" {
            return Some(Caller::Other);
        }
        Agent::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .map(Caller::Agent)
    }

    /// The flavour a caller's requests normally have (used to shape errors on paths that name
    /// no flavour, e.g. the base).
    pub fn usual_flavour(self) -> Flavour {
        match self {
            Caller::Agent(Agent::Claude) => Flavour::Anthropic,
            Caller::Agent(Agent::Codex) => Flavour::Responses,
            Caller::Agent(Agent::Gemini) => Flavour::Gemini,
            Caller::Agent(Agent::OpenCode | Agent::Hermes) | Caller::Other => Flavour::Chat,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first path segment of each prefix and the agent it stands for.
const PREFIXES: &[(&str, Caller)] = &[
    ("claude", Caller::Agent(Agent::Claude)),
    ("codex", Caller::Agent(Agent::Codex)),
    ("gemini", Caller::Agent(Agent::Gemini)),
    ("opencode", Caller::Agent(Agent::OpenCode)),
    ("hermes", Caller::Agent(Agent::Hermes)),
    ("anthropic", Caller::Other),
    ("openai", Caller::Other),
    ("google", Caller::Other),
];

/// A wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavour {
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// OpenAI Responses (`/responses`).
    Responses,
    /// OpenAI Chat Completions (`/chat/completions`).
    Chat,
    /// Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
}

impl Flavour {
    /// Every flavour.
    pub const ALL: [Flavour; 4] = [
        Flavour::Anthropic,
        Flavour::Responses,
        Flavour::Chat,
        Flavour::Gemini,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Anthropic => "anthropic",
            Flavour::Responses => "responses",
            Flavour::Chat => "chat",
            Flavour::Gemini => "gemini",
        }
    }
}

impl fmt::Display for Flavour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The longest model name accepted in a Gemini path (Databricks names are far shorter).
pub const MODEL_NAME_MAX: usize = 256;

/// The only paths the gateway sends upstream (appended to the upstream base).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamPath {
    /// `/v1/messages`.
    Messages,
    /// `/v1/messages/count_tokens`.
    CountTokens,
    /// `/responses`.
    Responses,
    /// `/chat/completions`.
    ChatCompletions,
    /// `/v1beta/models/<model>:generateContent` or `:streamGenerateContent`; `model` passed
    /// [`valid_model_name`].
    Gemini {
        /// The model named in the path.
        model: String,
        /// `streamGenerateContent`.
        stream: bool,
    },
}

impl UpstreamPath {
    /// The path segments, each to be appended as one (percent-encoded) segment.
    pub fn segments(&self) -> Vec<String> {
        let fixed = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        match self {
            UpstreamPath::Messages => fixed(&["v1", "messages"]),
            UpstreamPath::CountTokens => fixed(&["v1", "messages", "count_tokens"]),
            UpstreamPath::Responses => fixed(&["responses"]),
            UpstreamPath::ChatCompletions => fixed(&["chat", "completions"]),
            UpstreamPath::Gemini { model, stream } => {
                let method = if *stream {
                    "streamGenerateContent"
                } else {
                    "generateContent"
                };
                vec![
                    "v1beta".to_owned(),
                    "models".to_owned(),
                    format!("{model}:{method}"),
                ]
            }
        }
    }

    /// The path as a string (`/v1/messages`, …), for messages and tests.
    pub fn display(&self) -> String {
        self.segments().iter().map(|s| format!("/{s}")).collect()
    }
}

/// Whether `name` may be sent as a model name in a path: 1 to [`MODEL_NAME_MAX`] characters,
/// ASCII letters, digits, `.`, `-` and `_`, not starting with `.` (so never `.` or `..`).
pub fn valid_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MODEL_NAME_MAX
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// A model call: who, which protocol, and the path to append to the upstream base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCall {
    /// Attributed agent.
    pub agent: Caller,
    /// Wire flavour.
    pub flavour: Flavour,
    /// Path after the upstream base.
    pub upstream: UpstreamPath,
    /// Gemini: the model named in the path.
    pub path_model: Option<String>,
    /// Gemini: `streamGenerateContent` (always SSE or a JSON array).
    pub stream_method: bool,
}

/// What a request path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// A model call (POST only).
    Model(ModelCall),
    /// An agent's base URL itself (`HEAD /claude`: Claude's preflight).
    Base(Caller),
    /// Nothing here: a Databricks-style 404. The agent is known when the prefix was.
    Unknown(Option<Caller>),
    /// A Gemini model path whose model name is not a plain name: a 400 with the reason.
    BadModelName(Caller),
}

/// Classifies `method` + `path` (without the query).
pub fn classify(method: &Method, path: &str) -> Route {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (first, rest) = match trimmed.find('/') {
        Some(i) => (&trimmed[..i], &trimmed[i..]),
        None => (trimmed, ""),
    };
    let Some(agent) = PREFIXES.iter().find(|(p, _)| *p == first).map(|(_, a)| *a) else {
        return Route::Unknown(None);
    };
    if rest.is_empty() || rest == "/" {
        return if *method == Method::HEAD {
            Route::Base(agent)
        } else {
            Route::Unknown(Some(agent))
        };
    }
    if *method != Method::POST {
        return Route::Unknown(Some(agent));
    }
    model_call(agent, rest)
}

fn model_call(agent: Caller, rest: &str) -> Route {
    let call = |flavour, upstream| {
        Route::Model(ModelCall {
            agent,
            flavour,
            upstream,
            path_model: None,
            stream_method: false,
        })
    };
    // Clients built on an OpenAI SDK may or may not include `/v1` in their base URL.
    let openai = rest.strip_prefix("/v1").unwrap_or(rest);
    match rest {
        "/v1/messages" => return call(Flavour::Anthropic, UpstreamPath::Messages),
        "/v1/messages/count_tokens" => {
            return call(Flavour::Anthropic, UpstreamPath::CountTokens);
        }
        _ => {}
    }
    match openai {
        "/responses" => return call(Flavour::Responses, UpstreamPath::Responses),
        "/chat/completions" => return call(Flavour::Chat, UpstreamPath::ChatCompletions),
        _ => {}
    }
    let unknown = Route::Unknown(Some(agent));
    let Some(model_method) = rest.strip_prefix("/v1beta/models/") else {
        return unknown;
    };
    let Some((model, method)) = model_method.rsplit_once(':') else {
        return unknown;
    };
    let stream_method = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return unknown,
    };
    if model.is_empty() || model.contains('/') {
        return unknown;
    }
    if !valid_model_name(model) {
        return Route::BadModelName(agent);
    }
    Route::Model(ModelCall {
        agent,
        flavour: Flavour::Gemini,
        upstream: UpstreamPath::Gemini {
            model: model.to_owned(),
            stream: stream_method,
        },
        path_model: Some(model.to_owned()),
        stream_method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(method: Method, path: &str) -> ModelCall {
        match classify(&method, path) {
            Route::Model(c) => c,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn agent_paths_and_flavours() {
        let c = model(Method::POST, "/claude/v1/messages");
        assert_eq!(
            (c.agent, c.flavour, c.upstream.display().as_str()),
            (
                Caller::Agent(Agent::Claude),
                Flavour::Anthropic,
                "/v1/messages"
            )
        );
        let c = model(Method::POST, "/claude/v1/messages/count_tokens");
        assert_eq!(c.upstream.display(), "/v1/messages/count_tokens");
        let c = model(Method::POST, "/codex/responses");
        assert_eq!(
            (c.agent, c.flavour, c.upstream.display().as_str()),
            (
                Caller::Agent(Agent::Codex),
                Flavour::Responses,
                "/responses"
            )
        );
        let c = model(Method::POST, "/codex/v1/responses");
        assert_eq!(c.upstream.display(), "/responses");
        let c = model(
            Method::POST,
            "/gemini/v1beta/models/databricks-gemini-2-5-pro:streamGenerateContent",
        );
        assert_eq!(c.flavour, Flavour::Gemini);
        assert_eq!(c.path_model.as_deref(), Some("databricks-gemini-2-5-pro"));
        assert!(c.stream_method);
        let c = model(
            Method::POST,
            "/gemini/v1beta/models/system.ai.gemini-2-5-pro:generateContent",
        );
        assert!(!c.stream_method);
        assert_eq!(c.path_model.as_deref(), Some("system.ai.gemini-2-5-pro"));
        for (p, a) in [
            ("/opencode/chat/completions", Caller::Agent(Agent::OpenCode)),
            ("/hermes/chat/completions", Caller::Agent(Agent::Hermes)),
            ("/openai/v1/chat/completions", Caller::Other),
        ] {
            let c = model(Method::POST, p);
            assert_eq!(
                (c.agent, c.flavour, c.upstream.display().as_str()),
                (a, Flavour::Chat, "/chat/completions")
            );
        }
        let c = model(Method::POST, "/anthropic/v1/messages");
        assert_eq!((c.agent, c.flavour), (Caller::Other, Flavour::Anthropic));
        let c = model(Method::POST, "/google/v1beta/models/m:generateContent");
        assert_eq!((c.agent, c.flavour), (Caller::Other, Flavour::Gemini));
    }

    #[test]
    fn bases_probes_and_unknowns() {
        assert_eq!(
            classify(&Method::HEAD, "/claude"),
            Route::Base(Caller::Agent(Agent::Claude))
        );
        assert_eq!(
            classify(&Method::HEAD, "/claude/"),
            Route::Base(Caller::Agent(Agent::Claude))
        );
        assert_eq!(
            classify(&Method::GET, "/claude"),
            Route::Unknown(Some(Caller::Agent(Agent::Claude)))
        );
        for p in [
            "/hermes/models",
            "/hermes/v1/models",
            "/hermes/api/tags",
            "/hermes/props",
            "/hermes/version",
        ] {
            assert_eq!(
                classify(&Method::GET, p),
                Route::Unknown(Some(Caller::Agent(Agent::Hermes))),
                "{p}"
            );
        }
        assert_eq!(
            classify(&Method::GET, "/claude/v1/messages"),
            Route::Unknown(Some(Caller::Agent(Agent::Claude)))
        );
        assert_eq!(
            classify(&Method::POST, "/nobody/v1/messages"),
            Route::Unknown(None)
        );
        assert_eq!(classify(&Method::POST, "/"), Route::Unknown(None));
        assert_eq!(
            classify(&Method::POST, "/gemini/v1beta/models/a/b:generateContent"),
            Route::Unknown(Some(Caller::Agent(Agent::Gemini)))
        );
        assert_eq!(
            classify(&Method::POST, "/gemini/v1beta/models/m:countTokens"),
            Route::Unknown(Some(Caller::Agent(Agent::Gemini)))
        );
        assert_eq!(
            classify(&Method::POST, "/gemini/v1beta/models/:generateContent"),
            Route::Unknown(Some(Caller::Agent(Agent::Gemini)))
        );
        assert_eq!(
            Caller::from_name("hermes"),
            Some(Caller::Agent(Agent::Hermes))
        );
    }

    #[test]
    fn model_names_cannot_leave_the_model_api() {
        for bad in [
            r"a\..\..\..\api\2.0\workspace-files\import-file\x",
            "..",
            ".",
            ".hidden",
            "%2e%2e",
            "a%2fb",
            r"a%5cb",
            "a b",
            "a?b",
            "a#b",
            "a;b",
            "mödel",
        ] {
            let p = format!("/gemini/v1beta/models/{bad}:generateContent");
            assert_eq!(
                classify(&Method::POST, &p),
                Route::BadModelName(Caller::Agent(Agent::Gemini)),
                "{p}"
            );
        }
        let long = "m".repeat(MODEL_NAME_MAX + 1);
        assert!(!valid_model_name(&long));
        assert!(valid_model_name(&long[1..]));
        for good in ["databricks-gemini-2-5-pro", "system.ai.gemini_2", "a..b"] {
            assert!(valid_model_name(good), "{good}");
        }
        let c = model(Method::POST, "/gemini/v1beta/models/g-1:generateContent");
        assert_eq!(
            c.upstream.segments(),
            ["v1beta", "models", "g-1:generateContent"]
        );
        assert_eq!(Caller::from_name("x"), None);
    }
}
