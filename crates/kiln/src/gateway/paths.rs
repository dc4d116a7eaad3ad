//! The gateway's URL layout: one prefix per agent (`/claude`, `/codex`, `/gemini`, `/opencode`,
//! `/hermes`, and the generic `/anthropic`, `/openai`, `/google`), and the wire flavour decided
//! from the path after the prefix. Anything else is an unknown path (answered with a
//! Databricks-style 404, which is what Hermes' local-server probes must see).

use axum::http::Method;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a request is attributed to (by its path prefix).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agent {
    /// Claude Code (`/claude`).
    Claude,
    /// Codex (`/codex`).
    Codex,
    /// Gemini CLI (`/gemini`).
    Gemini,
    /// OpenCode (`/opencode`).
    Opencode,
    /// Hermes Agent (`/hermes`).
    Hermes,
    /// Anything using a generic prefix (`/anthropic`, `/openai`, `/google`).
    Other,
}

impl Agent {
    /// Every agent, in display order.
    pub const ALL: [Agent; 6] = [
        Agent::Claude,
        Agent::Codex,
        Agent::Gemini,
        Agent::Opencode,
        Agent::Hermes,
        Agent::Other,
    ];

    /// Lower-case name (`claude`, …, `other`).
    pub fn name(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
            Agent::Opencode => "opencode",
            Agent::Hermes => "hermes",
            Agent::Other => "other",
        }
    }

    /// Parses a lower-case name.
    pub fn from_name(name: &str) -> Option<Agent> {
        Agent::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The flavour an agent's requests normally have (used to shape errors on paths that name
    /// no flavour, e.g. the base).
    pub fn usual_flavour(self) -> Flavour {
        match self {
            Agent::Claude => Flavour::Anthropic,
            Agent::Codex => Flavour::Responses,
            Agent::Gemini => Flavour::Gemini,
            Agent::Opencode | Agent::Hermes | Agent::Other => Flavour::Chat,
        }
    }
}

impl fmt::Display for Agent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first path segment of each prefix and the agent it stands for.
const PREFIXES: &[(&str, Agent)] = &[
    ("claude", Agent::Claude),
    ("codex", Agent::Codex),
    ("gemini", Agent::Gemini),
    ("opencode", Agent::Opencode),
    ("hermes", Agent::Hermes),
    ("anthropic", Agent::Other),
    ("openai", Agent::Other),
    ("google", Agent::Other),
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

/// A model call: who, which protocol, and the path to append to the upstream base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelCall {
    /// Attributed agent.
    pub agent: Agent,
    /// Wire flavour.
    pub flavour: Flavour,
    /// Path after the upstream base, e.g. `/v1/messages`, `/responses`, `/chat/completions`,
    /// `/v1beta/models/m:streamGenerateContent`.
    pub rest: String,
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
    Base(Agent),
    /// Nothing here: a Databricks-style 404. The agent is known when the prefix was.
    Unknown(Option<Agent>),
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
    match model_call(agent, rest) {
        Some(call) => Route::Model(call),
        None => Route::Unknown(Some(agent)),
    }
}

fn model_call(agent: Agent, rest: &str) -> Option<ModelCall> {
    let call = |flavour, rest: &str| ModelCall {
        agent,
        flavour,
        rest: rest.to_owned(),
        path_model: None,
        stream_method: false,
    };
    // Clients built on an OpenAI SDK may or may not include `/v1` in their base URL.
    let openai = rest.strip_prefix("/v1").unwrap_or(rest);
    match rest {
        "/v1/messages" | "/v1/messages/count_tokens" => {
            return Some(call(Flavour::Anthropic, rest));
        }
        _ => {}
    }
    match openai {
        "/responses" => return Some(call(Flavour::Responses, "/responses")),
        "/chat/completions" => return Some(call(Flavour::Chat, "/chat/completions")),
        _ => {}
    }
    let model_method = rest.strip_prefix("/v1beta/models/")?;
    let (model, method) = model_method.rsplit_once(':')?;
    let stream_method = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        _ => return None,
    };
    if model.is_empty() || model.contains('/') {
        return None;
    }
    Some(ModelCall {
        agent,
        flavour: Flavour::Gemini,
        rest: rest.to_owned(),
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
            (c.agent, c.flavour, c.rest.as_str()),
            (Agent::Claude, Flavour::Anthropic, "/v1/messages")
        );
        let c = model(Method::POST, "/claude/v1/messages/count_tokens");
        assert_eq!(c.rest, "/v1/messages/count_tokens");
        let c = model(Method::POST, "/codex/responses");
        assert_eq!(
            (c.agent, c.flavour, c.rest.as_str()),
            (Agent::Codex, Flavour::Responses, "/responses")
        );
        let c = model(Method::POST, "/codex/v1/responses");
        assert_eq!(c.rest, "/responses");
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
            ("/opencode/chat/completions", Agent::Opencode),
            ("/hermes/chat/completions", Agent::Hermes),
            ("/openai/v1/chat/completions", Agent::Other),
        ] {
            let c = model(Method::POST, p);
            assert_eq!(
                (c.agent, c.flavour, c.rest.as_str()),
                (a, Flavour::Chat, "/chat/completions")
            );
        }
        let c = model(Method::POST, "/anthropic/v1/messages");
        assert_eq!((c.agent, c.flavour), (Agent::Other, Flavour::Anthropic));
        let c = model(Method::POST, "/google/v1beta/models/m:generateContent");
        assert_eq!((c.agent, c.flavour), (Agent::Other, Flavour::Gemini));
    }

    #[test]
    fn bases_probes_and_unknowns() {
        assert_eq!(
            classify(&Method::HEAD, "/claude"),
            Route::Base(Agent::Claude)
        );
        assert_eq!(
            classify(&Method::HEAD, "/claude/"),
            Route::Base(Agent::Claude)
        );
        assert_eq!(
            classify(&Method::GET, "/claude"),
            Route::Unknown(Some(Agent::Claude))
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
                Route::Unknown(Some(Agent::Hermes)),
                "{p}"
            );
        }
        assert_eq!(
            classify(&Method::GET, "/claude/v1/messages"),
            Route::Unknown(Some(Agent::Claude))
        );
        assert_eq!(
            classify(&Method::POST, "/nobody/v1/messages"),
            Route::Unknown(None)
        );
        assert_eq!(classify(&Method::POST, "/"), Route::Unknown(None));
        assert_eq!(
            classify(&Method::POST, "/gemini/v1beta/models/a/b:generateContent"),
            Route::Unknown(Some(Agent::Gemini))
        );
        assert_eq!(
            classify(&Method::POST, "/gemini/v1beta/models/m:countTokens"),
            Route::Unknown(Some(Agent::Gemini))
        );
        assert_eq!(
            classify(&Method::POST, "/gemini/v1beta/models/:generateContent"),
            Route::Unknown(Some(Agent::Gemini))
        );
        assert_eq!(Agent::from_name("hermes"), Some(Agent::Hermes));
        assert_eq!(Agent::from_name("x"), None);
    }
}
