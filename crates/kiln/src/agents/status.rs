//! `kiln agents status`: per agent the installed and pinned versions, the endpoint and model its
//! config files point at (read back from those files), and the last check's result.

use super::Agent;
use super::formats::yaml;
use super::install::installed_version;
use super::manifest::Manifest;
use super::state::State;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One agent's status.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct AgentStatus {
    /// Agent name.
    pub agent: String,
    /// Installed version (`None`: not installed in the prefix).
    pub installed: Option<String>,
    /// Pinned version.
    pub pinned: Option<String>,
    /// Base URL in its config.
    pub endpoint: Option<String>,
    /// Model in its config.
    pub model: Option<String>,
    /// Last check: ok?
    pub last_ok: Option<bool>,
    /// Last check: answer or error.
    pub last_message: Option<String>,
    /// Last check: seconds since the epoch.
    pub last_at_unix: Option<u64>,
    /// Usage through the running gateway, when one was reachable.
    pub usage: Option<Usage>,
}

/// An agent's usage through the gateway (all models together).
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Usage {
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

/// Sums a gateway usage snapshot per agent.
pub fn usage_by_agent(snapshot: &crate::gateway::UsageSnapshot) -> BTreeMap<String, Usage> {
    let mut out: BTreeMap<String, Usage> = BTreeMap::new();
    for u in &snapshot.agents {
        let e = out.entry(u.agent.clone()).or_default();
        e.requests += u.requests;
        e.errors += u.errors;
        e.input_tokens += u.input_tokens;
        e.output_tokens += u.output_tokens;
    }
    out
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn json_str(v: &serde_json::Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str().map(str::to_owned)
}

fn dotenv_get(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim_start();
        let l = l.strip_prefix("export ").unwrap_or(l);
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_owned())
    })
}

/// Endpoint and model as an agent's files say.
pub fn configured(agent: Agent, home: &Path) -> (Option<String>, Option<String>) {
    match agent {
        Agent::Claude => {
            let v: serde_json::Value = read(&home.join(".claude/settings.json"))
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            (
                json_str(&v, &["env", "ANTHROPIC_BASE_URL"]),
                json_str(&v, &["env", "ANTHROPIC_MODEL"]),
            )
        }
        Agent::Codex => {
            let doc = read(&home.join(".codex/config.toml"))
                .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok());
            let Some(doc) = doc else {
                return (None, None);
            };
            let base = doc
                .get("model_providers")
                .and_then(|t| t.get("databricks"))
                .and_then(|t| t.get("base_url"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            (
                base,
                doc.get("model").and_then(|v| v.as_str()).map(str::to_owned),
            )
        }
        Agent::Gemini => {
            let t = read(&home.join(".gemini/.env")).unwrap_or_default();
            (
                dotenv_get(&t, "GOOGLE_GEMINI_BASE_URL"),
                dotenv_get(&t, "GEMINI_MODEL"),
            )
        }
        Agent::OpenCode => {
            let v: serde_json::Value = read(&home.join(".config/opencode/opencode.json"))
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            (
                json_str(&v, &["provider", "databricks", "options", "baseURL"]),
                json_str(&v, &["model"]).map(|m| {
                    m.strip_prefix("databricks/")
                        .map(str::to_owned)
                        .unwrap_or(m)
                }),
            )
        }
        Agent::Hermes => {
            let t = read(&home.join(".hermes/config.yaml")).unwrap_or_default();
            (
                yaml::get(&t, "model", "base_url"),
                yaml::get(&t, "model", "default"),
            )
        }
    }
}

/// Status of `agents`.
pub fn collect(
    agents: &[Agent],
    home: &Path,
    prefix: &Path,
    manifest: &Manifest,
    usage: Option<&BTreeMap<String, Usage>>,
) -> Vec<AgentStatus> {
    let state = State::load(home);
    agents
        .iter()
        .map(|&a| {
            let spec = manifest.get(a);
            let (endpoint, model) = configured(a, home);
            let last = state.get(a).last_check;
            AgentStatus {
                agent: a.name().to_owned(),
                installed: spec.and_then(|s| installed_version(a, s, prefix)),
                pinned: spec.map(|s| s.version.clone()),
                endpoint,
                model,
                last_ok: last.as_ref().map(|c| c.ok),
                last_message: last.as_ref().map(|c| c.message.clone()),
                last_at_unix: last.map(|c| c.at_unix),
                usage: usage.map(|u| u.get(a.name()).cloned().unwrap_or_default()),
            }
        })
        .collect()
}

/// A text table of `rows`.
pub fn render(rows: &[AgentStatus], now_unix: u64) -> String {
    let mut lines = vec![[
        "AGENT".to_owned(),
        "VERSION".to_owned(),
        "ENDPOINT".to_owned(),
        "MODEL".to_owned(),
        "USAGE".to_owned(),
        "LAST RESULT".to_owned(),
    ]];
    for r in rows {
        let version = match (&r.installed, &r.pinned) {
            (Some(i), Some(p)) if i == p => i.clone(),
            (Some(i), Some(p)) => format!("{i} (pinned {p})"),
            (Some(i), None) => i.clone(),
            (None, Some(p)) => format!("not installed ({p})"),
            (None, None) => "not installed".into(),
        };
        let last = match (r.last_ok, &r.last_message, r.last_at_unix) {
            (Some(ok), Some(m), Some(at)) => format!(
                "{} {}: {m}",
                if ok { "ok" } else { "FAILED" },
                ago(now_unix.saturating_sub(at))
            ),
            _ => "never checked".into(),
        };
        lines.push([
            r.agent.clone(),
            version,
            r.endpoint.clone().unwrap_or_else(|| "-".into()),
            r.model.clone().unwrap_or_else(|| "-".into()),
            match &r.usage {
                Some(u) => format!(
                    "{} req, {} err, {}/{} tok",
                    u.requests, u.errors, u.input_tokens, u.output_tokens
                ),
                None => "-".into(),
            },
            last,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", l[i], w = *w));
        }
        out.push_str(&l[5]);
        out.push('\n');
    }
    out
}

fn ago(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}
