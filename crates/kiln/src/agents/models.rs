//! Which serving endpoint each agent uses. An override variable wins (`ANTHROPIC_MODEL`,
//! `CODEX_MODEL`, `GEMINI_MODEL`, `HERMES_MODEL`, `OPENCODE_MODEL`); otherwise the newest endpoint
//! of the right family among those the workspace serves and reports ready, so no agent is pointed
//! at a model its workspace lacks. Families are read from Databricks' endpoint names:
//! `databricks-claude-<tier>-<version>` (older: `databricks-claude-<version>-<tier>`),
//! `databricks-gpt-<version>[-<variant>]`, `databricks-gemini-<version>-<variant>`.

use kiln_databricks::api::serving::ServingEndpoint;
use serde::Serialize;
use std::collections::BTreeMap;

/// The models of Claude Code's tiers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ClaudeModels {
    /// `ANTHROPIC_MODEL` (the default model).
    pub main: Option<String>,
    /// `ANTHROPIC_DEFAULT_OPUS_MODEL`.
    pub opus: Option<String>,
    /// `ANTHROPIC_DEFAULT_SONNET_MODEL`.
    pub sonnet: Option<String>,
    /// `ANTHROPIC_DEFAULT_HAIKU_MODEL`.
    pub haiku: Option<String>,
}

/// The model of every agent (`None`: the workspace serves nothing suitable).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Models {
    /// Claude Code.
    pub claude: ClaudeModels,
    /// Codex (an OpenAI model: the Responses API only serves those).
    pub codex: Option<String>,
    /// Gemini CLI (a Gemini model).
    pub gemini: Option<String>,
    /// OpenCode's main model (Chat Completions: any family).
    pub opencode: Option<String>,
    /// OpenCode's small model (titles).
    pub opencode_small: Option<String>,
    /// Hermes Agent (Chat Completions: any family).
    pub hermes: Option<String>,
    /// Where the choice came from, for status output.
    pub source: String,
}

/// A model family and the parts of an endpoint name that order it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Parsed {
    family: &'static str,
    variant: String,
    version: Vec<u32>,
}

fn parse(name: &str) -> Option<Parsed> {
    let rest = name.strip_prefix("databricks-")?;
    let mut tokens = rest.split('-');
    let family = match tokens.next()? {
        "claude" => "claude",
        "gpt" => "gpt",
        "gemini" => "gemini",
        _ => return None,
    };
    let mut version = Vec::new();
    let mut words = Vec::new();
    for t in tokens {
        match t.parse::<u32>() {
            Ok(n) if words.is_empty() || family == "claude" => version.push(n),
            _ => words.push(t),
        }
    }
    if family == "gpt" && words.first() == Some(&"oss") {
        return None;
    }
    if version.is_empty() {
        return None;
    }
    Some(Parsed {
        family,
        variant: words.join("-"),
        version,
    })
}

/// The newest ready endpoint of `family` whose variant is one of `variants` (in preference
/// order: a newer version of an earlier variant wins over any later variant).
fn newest(endpoints: &[String], family: &str, variants: &[&str]) -> Option<String> {
    for variant in variants {
        let best = endpoints
            .iter()
            .filter_map(|n| parse(n).map(|p| (n, p)))
            .filter(|(_, p)| p.family == family && p.variant == *variant)
            .max_by(|a, b| a.1.version.cmp(&b.1.version).then_with(|| b.0.cmp(a.0)));
        if let Some((n, _)) = best {
            return Some(n.clone());
        }
    }
    None
}

/// The override variables present in `env` (only those), e.g. to keep for later runs.
pub fn override_vars(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    overrides(env)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Reads the override variables from `env`.
pub fn overrides(env: &BTreeMap<String, String>) -> BTreeMap<&'static str, String> {
    let mut out = BTreeMap::new();
    for var in [
        "ANTHROPIC_MODEL",
        "CODEX_MODEL",
        "GEMINI_MODEL",
        "HERMES_MODEL",
        "OPENCODE_MODEL",
    ] {
        if let Some(v) = env.get(var).filter(|v| !v.trim().is_empty()) {
            out.insert(var, v.trim().to_owned());
        }
    }
    out
}

/// Chooses every agent's model among `endpoints` (names of ready endpoints), overrides first.
pub fn choose(
    endpoints: &[String],
    overrides: &BTreeMap<&'static str, String>,
    source: &str,
) -> Models {
    let get = |var: &str| overrides.get(var).cloned();
    let sonnet = newest(endpoints, "claude", &["sonnet"]);
    let opus = newest(endpoints, "claude", &["opus"]);
    let haiku = newest(endpoints, "claude", &["haiku"]);
    let claude_main = get("ANTHROPIC_MODEL")
        .or_else(|| sonnet.clone())
        .or_else(|| opus.clone())
        .or_else(|| haiku.clone());
    let gpt = newest(endpoints, "gpt", &["", "codex"]);
    let gemini_pro = newest(endpoints, "gemini", &["pro"]);
    let gemini_flash = newest(endpoints, "gemini", &["flash"]);
    let any_chat = claude_main
        .clone()
        .or_else(|| gpt.clone())
        .or_else(|| gemini_pro.clone())
        .or_else(|| endpoints.first().cloned());
    let small = haiku
        .clone()
        .or_else(|| gemini_flash.clone())
        .or_else(|| newest(endpoints, "gpt", &["mini", "nano"]))
        .or_else(|| any_chat.clone());
    Models {
        claude: ClaudeModels {
            main: claude_main,
            opus,
            sonnet,
            haiku,
        },
        codex: get("CODEX_MODEL").or(gpt),
        gemini: get("GEMINI_MODEL").or(gemini_pro).or(gemini_flash),
        opencode: get("OPENCODE_MODEL").or_else(|| any_chat.clone()),
        opencode_small: small,
        hermes: get("HERMES_MODEL").or(any_chat),
        source: source.to_owned(),
    }
}

/// Names of the ready endpoints in a `serving-endpoints` listing.
pub fn ready_names(endpoints: &[ServingEndpoint]) -> Vec<String> {
    endpoints
        .iter()
        .filter(|e| e.is_ready() || e.state.is_none())
        .map(|e| e.name.clone())
        .collect()
}

/// Models when the workspace cannot be asked: the built-in defaults (documented in
/// `docs/agents.md`), still subject to the overrides.
pub fn defaults(overrides: &BTreeMap<&'static str, String>, why: &str) -> Models {
    let names: Vec<String> = [
        "databricks-claude-sonnet-4-5",
        "databricks-claude-opus-4-1",
        "databricks-claude-haiku-4-5",
        "databricks-gpt-5",
        "databricks-gemini-2-5-pro",
        "databricks-gemini-2-5-flash",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    choose(&names, overrides, &format!("built-in defaults ({why})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_databricks_names() {
        let p = parse("databricks-claude-sonnet-4-5").unwrap();
        assert_eq!(
            (p.family, p.variant.as_str(), p.version),
            ("claude", "sonnet", vec![4, 5])
        );
        let p = parse("databricks-claude-3-7-sonnet").unwrap();
        assert_eq!((p.variant.as_str(), p.version), ("sonnet", vec![3, 7]));
        let p = parse("databricks-gemini-2-5-flash-lite").unwrap();
        assert_eq!((p.variant.as_str(), p.version), ("flash-lite", vec![2, 5]));
        let p = parse("databricks-gpt-5-2").unwrap();
        assert_eq!((p.variant.as_str(), p.version), ("", vec![5, 2]));
        let p = parse("databricks-gpt-5-mini").unwrap();
        assert_eq!((p.variant.as_str(), p.version), ("mini", vec![5]));
        assert!(parse("databricks-gpt-oss-120b").is_none());
        assert!(parse("databricks-meta-llama-3-3-70b-instruct").is_none());
        assert!(parse("my-endpoint").is_none());
    }

    #[test]
    fn newest_per_family() {
        let eps = names(&[
            "databricks-claude-sonnet-4-5",
            "databricks-claude-sonnet-4-6",
            "databricks-claude-opus-4-1",
            "databricks-claude-opus-4-7",
            "databricks-claude-haiku-4-5",
            "databricks-claude-3-7-sonnet",
            "databricks-gpt-5",
            "databricks-gpt-5-mini",
            "databricks-gpt-5-2",
            "databricks-gpt-5-5",
            "databricks-gemini-2-5-pro",
            "databricks-gemini-3-1-pro",
            "databricks-gemini-3-flash",
            "databricks-gpt-oss-120b",
        ]);
        let m = choose(&eps, &BTreeMap::new(), "test");
        assert_eq!(
            m.claude.main.as_deref(),
            Some("databricks-claude-sonnet-4-6")
        );
        assert_eq!(m.claude.opus.as_deref(), Some("databricks-claude-opus-4-7"));
        assert_eq!(
            m.claude.haiku.as_deref(),
            Some("databricks-claude-haiku-4-5")
        );
        assert_eq!(m.codex.as_deref(), Some("databricks-gpt-5-5"));
        assert_eq!(m.gemini.as_deref(), Some("databricks-gemini-3-1-pro"));
        assert_eq!(m.opencode.as_deref(), Some("databricks-claude-sonnet-4-6"));
        assert_eq!(
            m.opencode_small.as_deref(),
            Some("databricks-claude-haiku-4-5")
        );
        assert_eq!(m.hermes.as_deref(), Some("databricks-claude-sonnet-4-6"));
    }

    #[test]
    fn overrides_win_and_missing_families_stay_empty() {
        let env: BTreeMap<String, String> = [
            ("CODEX_MODEL".to_owned(), "my-gpt".to_owned()),
            ("HERMES_MODEL".to_owned(), " ".to_owned()),
        ]
        .into_iter()
        .collect();
        let o = overrides(&env);
        assert_eq!(o.len(), 1);
        let m = choose(&names(&["databricks-gemini-2-5-flash"]), &o, "test");
        assert_eq!(m.codex.as_deref(), Some("my-gpt"));
        assert_eq!(m.claude.main, None);
        assert_eq!(m.gemini.as_deref(), Some("databricks-gemini-2-5-flash"));
        assert_eq!(m.hermes.as_deref(), Some("databricks-gemini-2-5-flash"));
        let none = choose(&[], &BTreeMap::new(), "empty");
        assert_eq!((none.codex, none.hermes), (None, None));
    }
}
