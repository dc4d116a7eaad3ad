//! Where each flavour goes. Per flavour, in this order: an explicit override (a per-agent base
//! URL, or `DATABRICKS_GATEWAY_HOST`), the workspace's AI Gateway (`{host}/ai-gateway/…`,
//! probed), the older AI Gateway host form (`https://{workspace_id}.ai-gateway.cloud.databricks.com`,
//! probed, AWS hosts only unless configured), and finally `{host}/serving-endpoints/…`. The
//! choice and its reason are kept for the status API. Definite answers are cached for
//! [`PROBE_TTL`]; when a probe could not tell (no token yet, network, 5xx) the fallback is used
//! and probing is tried again after [`RETRY_PROBE_AFTER`].

use super::paths::{Caller, Flavour};
use super::probe::{Probe, probe};
use kiln_databricks::TokenSource;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How long a definite probe result is trusted (15 min).
pub const PROBE_TTL: Duration = Duration::from_secs(15 * 60);
/// How soon to probe again after an inconclusive probe (30 s).
pub const RETRY_PROBE_AFTER: Duration = Duration::from_secs(30);

/// Which kind of upstream serves a flavour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamKind {
    /// A configured base URL.
    Override,
    /// `{host}/ai-gateway/…`.
    AiGateway,
    /// `https://{workspace_id}.ai-gateway.cloud.databricks.com/…`.
    LegacyGatewayHost,
    /// `{host}/serving-endpoints/…`.
    ServingEndpoints,
}

impl UpstreamKind {
    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            UpstreamKind::Override => "override",
            UpstreamKind::AiGateway => "ai-gateway",
            UpstreamKind::LegacyGatewayHost => "legacy-gateway-host",
            UpstreamKind::ServingEndpoints => "serving-endpoints",
        }
    }
}

/// What the status API shows per flavour (and per agent with its own base URL).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    /// Flavour name.
    pub flavour: String,
    /// Set when the choice applies to one agent only (a per-agent base URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Upstream kind (`override`, `ai-gateway`, `legacy-gateway-host`, `serving-endpoints`).
    pub kind: String,
    /// Base URL requests are appended to.
    pub base_url: String,
    /// Why this one.
    pub reason: String,
    /// When it was chosen (RFC 3339).
    pub checked_at: String,
}

/// One decision.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// Kind.
    pub kind: UpstreamKind,
    /// Base URL (no trailing slash).
    pub base: String,
    /// Why.
    pub reason: String,
    host: String,
    at: SystemTime,
    until: Instant,
    /// The probes gave a definite answer (not a fallback for want of one).
    definite: bool,
}

/// Settings of the resolution.
#[derive(Clone, Debug, Default)]
pub struct ResolverConfig {
    /// `DATABRICKS_GATEWAY_HOST`: an AI Gateway host whose paths are `/anthropic`,
    /// `/codex/v1`, `/mlflow/v1`, `/gemini`.
    pub gateway_host: Option<String>,
    /// Per-agent base URLs (the agent's path after its prefix is appended).
    pub agent_base_urls: BTreeMap<Caller, String>,
    /// Workspace id, for the older gateway host form.
    pub workspace_id: Option<String>,
    /// The older gateway host to probe, instead of the one derived from the workspace id.
    pub legacy_gateway_host: Option<String>,
    /// Probe at all (off: serving endpoints unless overridden).
    pub probe: bool,
    /// Timeout of one probe.
    pub probe_timeout: Duration,
}

/// The path of a flavour under an AI Gateway host (workspace `/ai-gateway` or the older host).
fn gateway_suffix(flavour: Flavour) -> &'static str {
    match flavour {
        Flavour::Anthropic => "/anthropic",
        Flavour::Responses => "/codex/v1",
        Flavour::Chat => "/mlflow/v1",
        Flavour::Gemini => "/gemini",
    }
}

/// The base of a flavour under `{host}/serving-endpoints`.
fn serving_suffix(flavour: Flavour) -> &'static str {
    match flavour {
        Flavour::Anthropic => "/serving-endpoints/anthropic",
        Flavour::Responses | Flavour::Chat => "/serving-endpoints",
        Flavour::Gemini => "/serving-endpoints/gemini",
    }
}

/// `https://` added when there is no scheme, trailing `/` removed.
pub fn normalize_base(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("https://{url}")
    }
}

/// The older AI Gateway host for a workspace: only derivable for AWS hosts
/// (`*.cloud.databricks.com`) with a known workspace id.
pub fn legacy_host(host: &str, workspace_id: Option<&str>) -> Option<String> {
    let id = workspace_id?.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bare = host.split("://").nth(1).unwrap_or(host);
    let bare = bare.split(['/', ':']).next().unwrap_or(bare);
    bare.ends_with(".cloud.databricks.com")
        .then(|| format!("https://{id}.ai-gateway.cloud.databricks.com"))
}

/// Chooses and remembers upstreams.
pub struct Resolver {
    cfg: ResolverConfig,
    http: reqwest::Client,
    cache: Mutex<HashMap<Flavour, Chosen>>,
    /// Single-flight gates, one per flavour: whoever holds one is probing. They guard no data,
    /// so holding them across the probes' `.await` is their purpose.
    gates: HashMap<Flavour, tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver with its own settings and the gateway's HTTP client.
    pub fn new(cfg: ResolverConfig, http: reqwest::Client) -> Self {
        Self {
            cfg,
            http,
            cache: Mutex::new(HashMap::new()),
            gates: Flavour::ALL
                .into_iter()
                .map(|f| (f, tokio::sync::Mutex::new(())))
                .collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Flavour, Chosen>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every decision (the host or credentials changed).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Forgets the decisions that were fallbacks for want of a definite probe answer (e.g.
    /// made before any token existed).
    pub fn clear_inconclusive(&self) {
        self.lock().retain(|_, c| c.definite);
    }

    /// Forgets one flavour's decision (its upstream answered a routing 404).
    pub fn invalidate(&self, flavour: Flavour) {
        self.lock().remove(&flavour);
    }

    fn cached(&self, flavour: Flavour, host: &str) -> Option<Chosen> {
        self.lock()
            .get(&flavour)
            .filter(|c| c.host == host && Instant::now() < c.until)
            .cloned()
    }

    /// The upstream base for a call of `agent` in `flavour` against `host`.
    pub async fn choose(
        &self,
        agent: Caller,
        flavour: Flavour,
        host: &str,
        source: &Arc<dyn TokenSource>,
    ) -> Chosen {
        if let Some(base) = self.cfg.agent_base_urls.get(&agent) {
            return Chosen {
                kind: UpstreamKind::Override,
                base: normalize_base(base),
                reason: format!("base URL configured for {agent}"),
                host: host.to_owned(),
                at: SystemTime::now(),
                until: Instant::now(),
                definite: true,
            };
        }
        self.for_flavour(flavour, host, source).await
    }

    /// The upstream base for `flavour` (per-agent base URLs aside): cached, or resolved now.
    pub async fn for_flavour(
        &self,
        flavour: Flavour,
        host: &str,
        source: &Arc<dyn TokenSource>,
    ) -> Chosen {
        if let Some(c) = self.cached(flavour, host) {
            return c;
        }
        let gate = self.gates.get(&flavour);
        let _held = match gate {
            Some(g) => Some(g.lock().await),
            None => None,
        };
        if let Some(c) = self.cached(flavour, host) {
            return c;
        }
        let chosen = self.resolve(flavour, host, source).await;
        tracing::info!(
            flavour = flavour.name(),
            kind = chosen.kind.name(),
            base = %chosen.base,
            reason = %chosen.reason,
            "gateway upstream chosen"
        );
        self.lock().insert(flavour, chosen.clone());
        chosen
    }

    async fn resolve(&self, flavour: Flavour, host: &str, source: &Arc<dyn TokenSource>) -> Chosen {
        let now = Instant::now();
        let make = |kind, base: String, reason: String, ttl: Duration| Chosen {
            kind,
            base,
            reason,
            host: host.to_owned(),
            at: SystemTime::now(),
            until: now + ttl,
            definite: ttl >= PROBE_TTL,
        };
        if let Some(gw) = &self.cfg.gateway_host {
            return make(
                UpstreamKind::Override,
                format!("{}{}", normalize_base(gw), gateway_suffix(flavour)),
                "DATABRICKS_GATEWAY_HOST is set".to_owned(),
                PROBE_TTL,
            );
        }
        let serving = format!("{host}{}", serving_suffix(flavour));
        if !self.cfg.probe {
            return make(
                UpstreamKind::ServingEndpoints,
                serving,
                "probing is off".into(),
                PROBE_TTL,
            );
        }
        let token = match source.token().await {
            Ok(t) => t,
            Err(e) => {
                return make(
                    UpstreamKind::ServingEndpoints,
                    serving,
                    format!("no token to probe the AI Gateway with ({e}); probing again soon"),
                    RETRY_PROBE_AFTER,
                );
            }
        };
        let mut notes = Vec::new();
        let mut definite = true;
        let workspace_gw = format!("{host}/ai-gateway{}", gateway_suffix(flavour));
        match probe(
            &self.http,
            self.cfg.probe_timeout,
            &workspace_gw,
            flavour,
            &token,
        )
        .await
        {
            Probe::Available(d) => {
                return make(
                    UpstreamKind::AiGateway,
                    workspace_gw,
                    format!("workspace AI Gateway: {d}"),
                    PROBE_TTL,
                );
            }
            Probe::Absent(d) => notes.push(format!("workspace AI Gateway: {d}")),
            Probe::Inconclusive(d) => {
                definite = false;
                notes.push(format!("workspace AI Gateway: {d}"));
            }
        }
        let legacy = self
            .cfg
            .legacy_gateway_host
            .as_deref()
            .map(normalize_base)
            .or_else(|| legacy_host(host, self.cfg.workspace_id.as_deref()));
        match legacy {
            Some(legacy) => {
                let base = format!("{legacy}{}", gateway_suffix(flavour));
                match probe(&self.http, self.cfg.probe_timeout, &base, flavour, &token).await {
                    Probe::Available(d) => {
                        return make(
                            UpstreamKind::LegacyGatewayHost,
                            base,
                            format!("older AI Gateway host: {d}; {}", notes.join("; ")),
                            PROBE_TTL,
                        );
                    }
                    Probe::Absent(d) => notes.push(format!("older AI Gateway host: {d}")),
                    Probe::Inconclusive(d) => {
                        definite = false;
                        notes.push(format!("older AI Gateway host: {d}"));
                    }
                }
            }
            None => notes.push(
                "older AI Gateway host: not applicable (not an AWS host or no workspace id)".into(),
            ),
        }
        let ttl = if definite {
            PROBE_TTL
        } else {
            RETRY_PROBE_AFTER
        };
        make(
            UpstreamKind::ServingEndpoints,
            serving,
            notes.join("; "),
            ttl,
        )
    }

    /// Every decision in force, for the status API.
    pub fn statuses(&self) -> Vec<UpstreamStatus> {
        let rfc = crate::time::rfc3339;
        let mut out: Vec<UpstreamStatus> = {
            let cache = self.lock();
            Flavour::ALL
                .into_iter()
                .filter_map(|f| cache.get(&f).map(|c| (f, c)))
                .map(|(f, c)| UpstreamStatus {
                    flavour: f.name().to_owned(),
                    agent: None,
                    kind: c.kind.name().to_owned(),
                    base_url: c.base.clone(),
                    reason: c.reason.clone(),
                    checked_at: rfc(c.at),
                })
                .collect()
        };
        for (agent, base) in &self.cfg.agent_base_urls {
            out.push(UpstreamStatus {
                flavour: agent.usual_flavour().name().to_owned(),
                agent: Some(agent.name().to_owned()),
                kind: UpstreamKind::Override.name().to_owned(),
                base_url: normalize_base(base),
                reason: format!("base URL configured for {agent}"),
                checked_at: rfc(SystemTime::now()),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_paths() {
        assert_eq!(
            legacy_host("https://dbc-a1b2.cloud.databricks.com", Some("123")).as_deref(),
            Some("https://123.ai-gateway.cloud.databricks.com")
        );
        assert_eq!(
            legacy_host("https://adb-1.2.azuredatabricks.net", Some("1")),
            None
        );
        assert_eq!(legacy_host("https://dbc.cloud.databricks.com", None), None);
        assert_eq!(
            legacy_host("https://dbc.cloud.databricks.com", Some("abc")),
            None
        );
        assert_eq!(normalize_base("gw.example.com/"), "https://gw.example.com");
        assert_eq!(
            normalize_base("http://127.0.0.1:9/x/"),
            "http://127.0.0.1:9/x"
        );
        assert_eq!(serving_suffix(Flavour::Chat), "/serving-endpoints");
        assert_eq!(gateway_suffix(Flavour::Responses), "/codex/v1");
    }
}
