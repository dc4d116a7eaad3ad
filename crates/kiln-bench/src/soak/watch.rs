//! The Databricks side of the soak: faults injected into the emulated workspace on a schedule
//! (429, 5xx and connection resets on the calls rotation makes, and once a five-minute outage of
//! the whole API, all in emulated time), and a watch of kiln's tokens: through the emulator's
//! token list (kiln's tokens carry the comment `kiln serve on …`) at most the current and one
//! previous kiln token are alive at any moment, and through `/api/credentials` kiln never ends up
//! without a token.

use super::Clock;
use crate::kiln::Api;
use kiln_emulator::{Fault, FaultAction, RunningEmulator};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::watch;

/// The comment every token kiln serve mints starts with.
const KILN_TOKEN_COMMENT: &str = "kiln serve on ";

/// The transient faults, injected in turn: (what, rule).
fn transient(i: usize) -> (&'static str, Fault) {
    let status = |s: u16| FaultAction::Status {
        status: s,
        error_code: None,
        message: None,
    };
    match i % 6 {
        0 => (
            "429 on token create (x2)",
            Fault::new(
                "/api/2.0/token/create",
                FaultAction::RateLimit {
                    retry_after_secs: 1,
                },
            )
            .method("POST")
            .times(2),
        ),
        1 => (
            "500 on token create",
            Fault::new("/api/2.0/token/create", status(500))
                .method("POST")
                .times(1),
        ),
        2 => (
            "connection reset on token create",
            Fault::new("/api/2.0/token/create", FaultAction::Reset)
                .method("POST")
                .times(1),
        ),
        3 => (
            "503 on token delete (x2)",
            Fault::new("/api/2.0/token/delete", status(503))
                .method("POST")
                .times(2),
        ),
        4 => (
            "connection reset on token delete",
            Fault::new("/api/2.0/token/delete", FaultAction::Reset)
                .method("POST")
                .times(1),
        ),
        _ => (
            "502 on any API call (x3)",
            Fault::new("/api/2.0/*", status(502)).times(3),
        ),
    }
}

/// What the Databricks side saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TokenReport {
    pub faults_injected: Vec<String>,
    /// When the outage began, in emulated minutes, if it ran.
    pub outage_at_emulated_min: Option<f64>,
    pub outage_emulated_min: f64,
    /// Token list checks done (and skipped because a fault hit the check itself).
    pub token_checks: u64,
    pub token_checks_skipped: u64,
    /// Most kiln tokens alive at one check.
    pub max_kiln_tokens_alive: usize,
    /// Distinct kiln tokens seen alive.
    pub kiln_tokens_seen: usize,
    pub rotations: u64,
    pub revoked: u64,
    /// Rotation states seen in `/api/credentials`.
    pub states_seen: BTreeSet<String>,
    /// Most consecutive rotation failures seen.
    pub max_failures: u64,
    /// Kiln tokens still alive after kiln stopped (filled in at the end).
    pub kiln_tokens_alive_after_stop: Option<usize>,
    pub errors: Vec<String>,
}

/// Lists the owner's live kiln tokens (ids) with a token kiln never sees.
pub async fn kiln_tokens(
    http: &reqwest::Client,
    emu: &RunningEmulator,
) -> anyhow::Result<Vec<String>> {
    let v: Value = http
        .get(format!("{}/api/2.0/token/list", emu.url()))
        .bearer_auth(emu.user_token())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(v["token_infos"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|t| {
            t["comment"]
                .as_str()
                .is_some_and(|c| c.starts_with(KILN_TOKEN_COMMENT))
        })
        .filter_map(|t| t["token_id"].as_str().map(str::to_owned))
        .collect())
}

/// Injects faults every `every` (emulated) and the outage once, at `outage_at` (a fraction of
/// the run), after the next rotation, until `stop`.
pub async fn faults(
    emu: &RunningEmulator,
    api: &Api,
    clock: Clock,
    every: Duration,
    outage_at: Option<f64>,
    mut stop: watch::Receiver<bool>,
) -> TokenReport {
    let mut report = TokenReport {
        outage_emulated_min: 5.0,
        ..TokenReport::default()
    };
    let mut next_fault = every;
    let mut i = 0;
    let mut outage_pending = outage_at.is_some();
    let mut rotations_then: Option<u64> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let now = clock.emulated();
        if now >= next_fault {
            let (what, fault) = transient(i);
            emu.add_fault(fault);
            report
                .faults_injected
                .push(format!("{:.0} min: {what}", now.as_secs_f64() / 60.0));
            i += 1;
            next_fault += every;
        }
        if outage_pending && clock.fraction() >= outage_at.unwrap_or(1.0) {
            // Right after a rotation: the new token outlives the outage (its rotation is due 10
            // minutes in), while the revocation of the previous one falls inside it. An outage
            // over the 5 minutes before a token's expiry must end in `needs_token` by design.
            let rotations = rotations(api).await;
            match (rotations_then, rotations) {
                (None, Some(r)) => rotations_then = Some(r),
                (Some(before), Some(r)) if r > before => {
                    let length = clock.real_for(Duration::from_secs(5 * 60));
                    emu.add_fault(Fault::new(
                        "/api/2.0/*",
                        FaultAction::Outage {
                            start_in_secs: 0,
                            duration_secs: length.as_secs_f64().ceil() as u64,
                        },
                    ));
                    let at = now.as_secs_f64() / 60.0;
                    report.outage_at_emulated_min = Some(at);
                    report.faults_injected.push(format!(
                        "{at:.0} min: outage of the whole API for 5 min, right after a rotation"
                    ));
                    outage_pending = false;
                }
                _ => {}
            }
        }
    }
    report
}

async fn credentials(api: &Api) -> Option<Value> {
    match api.request("GET", "/api/credentials", None).await {
        Ok((200, body)) => serde_json::from_slice(&body).ok(),
        _ => None,
    }
}

async fn rotations(api: &Api) -> Option<u64> {
    credentials(api).await?["token"]["rotations"].as_u64()
}

/// One check of kiln's tokens, folded into `report`.
pub async fn check_tokens(
    http: &reqwest::Client,
    emu: &RunningEmulator,
    api: &Api,
    seen: &mut BTreeSet<String>,
    report: &mut TokenReport,
) {
    match kiln_tokens(http, emu).await {
        Ok(alive) => {
            report.token_checks += 1;
            report.max_kiln_tokens_alive = report.max_kiln_tokens_alive.max(alive.len());
            if alive.len() > 2 && report.errors.len() < 10 {
                report.errors.push(format!(
                    "{} kiln tokens alive at once (at most the current and one previous)",
                    alive.len()
                ));
            }
            seen.extend(alive);
            report.kiln_tokens_seen = seen.len();
        }
        // A fault injected into the workspace can hit this check too.
        Err(_) => report.token_checks_skipped += 1,
    }
    if let Some(c) = credentials(api).await {
        let t = &c["token"];
        if let Some(state) = t["state"].as_str() {
            report.states_seen.insert(state.to_owned());
            if state == "needs_token" && report.errors.len() < 10 {
                report
                    .errors
                    .push(format!("kiln lost its token: {}", t["reason"]));
            }
        }
        report.rotations = t["rotations"].as_u64().unwrap_or(report.rotations);
        report.revoked = t["revoked"].as_u64().unwrap_or(report.revoked);
        report.max_failures = report.max_failures.max(t["failures"].as_u64().unwrap_or(0));
    }
}
