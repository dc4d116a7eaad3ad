//! The token state machine. One task drives it and one operation runs at a time (an async lock
//! shared with the paste handler): when a third of the current token's lifetime is left it mints
//! the next token with the current one, hands it to every consumer at once (the [`TokenCell`]),
//! and revokes the previous one after a grace period so requests in flight finish. Failures
//! retry with backoff on kiln's clock and are reported in the status. Rotation only continues
//! while a terminal session is alive or the owner was active recently (24 h); otherwise the
//! token is left to lapse. Tokens not yet revoked are recorded (ids only) in the state file, so a
//! restarted kiln revokes its orphans once it has a token again. Before each mint the instance
//! (the comment all its tokens carry) is recorded too: a kiln killed between Databricks minting a
//! token and kiln recording its id leaves a token only its comment can find, and the next start
//! sweeps the token list for it.

use super::backoff;
use super::cell::{MintedToken, TokenCell};
use super::clock::SharedClock;
use super::remote::{Created, Patience, Remote, Revoked};
use super::state_file::{InstanceRecord, State, StateFile, TokenRecord};
use kiln_databricks::Secret;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The rotation schedule.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Lifetime of each minted token.
    pub lifetime: Duration,
    /// How long a replaced token stays valid before it is revoked.
    pub grace: Duration,
    /// Rotation continues this long after the owner's last activity (with no terminal open).
    pub activity_window: Duration,
    /// The comment of every minted token (names this kiln instance).
    pub comment: String,
}

impl Plan {
    /// First pause after a failure: lifetime/180, between 1 and 5 s.
    fn first_retry(&self) -> Duration {
        (self.lifetime / 180).clamp(Duration::from_secs(1), Duration::from_secs(5))
    }
    /// Longest pause between attempts: lifetime/15, between 1 and 60 s.
    fn max_retry(&self) -> Duration {
        (self.lifetime / 15).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
    fn retry_after(&self, attempt: u32) -> i64 {
        ms(backoff(attempt, self.first_retry(), self.max_retry()))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No usable token: the UI asks for one.
    NeedsToken,
    /// A token is held; the next rotation is planned.
    Active,
    /// The last rotation attempt failed; another is planned.
    Retrying,
    /// Nobody is around: the token is left to expire.
    Lapsing,
}

/// A replaced token waiting for its revocation.
struct Pending {
    id: String,
    value: Secret,
    revoke_at_ms: i64,
    expires_ms: i64,
    attempts: u32,
    next_try_ms: i64,
}

/// A token left by an earlier run of kiln.
struct Orphan {
    record: TokenRecord,
    attempts: u32,
    next_try_ms: i64,
}

/// An earlier run of kiln whose tokens (found by their comment) are still to revoke.
struct Sweep {
    record: InstanceRecord,
    attempts: u32,
    next_try_ms: i64,
}

/// How far past a mint's planned expiry this instance's record is kept (1 min: clock skew).
const INSTANCE_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

struct Machine {
    phase: Phase,
    reason: Option<String>,
    pending: Vec<Pending>,
    orphans: Vec<Orphan>,
    sweeps: Vec<Sweep>,
    /// Recorded before this instance's first mint: no token of it lives past this (epoch ms).
    own_until_ms: Option<i64>,
    failures: u32,
    error: Option<String>,
    revoke_error: Option<String>,
    next_retry_ms: Option<i64>,
    generation: u64,
    rotations: u64,
    revoked: u64,
    last_rotation_ms: Option<i64>,
    last_activity_ms: i64,
}

/// What `/api/status` and the UI show about the token.
#[derive(Debug, Clone, Serialize)]
pub struct RotationStatus {
    /// The phase.
    pub state: Phase,
    /// Why a token is needed (expired, lapsed, refused), when it is.
    pub reason: Option<String>,
    /// Id of the current token.
    pub token_id: Option<String>,
    /// Tokens held by this process so far.
    pub generation: u64,
    /// Rotations done.
    pub rotations: u64,
    /// Seconds until the current token expires.
    pub expires_in_seconds: Option<i64>,
    /// Seconds until the next rotation starts (0 when due).
    pub rotates_in_seconds: Option<i64>,
    /// Lifetime of minted tokens.
    pub lifetime_seconds: u64,
    /// Seconds since the last rotation.
    pub last_rotation_seconds_ago: Option<i64>,
    /// Consecutive failed rotation attempts.
    pub failures: u32,
    /// The last rotation failure, while failing.
    pub error: Option<String>,
    /// The last failure to revoke a replaced token, while one is failing.
    pub revoke_error: Option<String>,
    /// Seconds until the next attempt after a failure.
    pub next_retry_in_seconds: Option<i64>,
    /// Replaced tokens not yet revoked (at most one outside failures).
    pub previous_tokens_alive: usize,
    /// Tokens of an earlier run still to revoke.
    pub orphans: usize,
    /// Earlier runs whose tokens are still to be looked for (by comment) and revoked.
    pub earlier_runs: usize,
    /// Tokens revoked by this process.
    pub revoked: u64,
    /// Whether rotation continues (a terminal is open or the owner was active recently).
    pub keep_alive: bool,
}

type SessionProbe = Arc<dyn Fn() -> usize + Send + Sync>;

/// The machine, its driver and its controls.
pub struct Rotation {
    cell: Arc<TokenCell>,
    remote: Remote,
    clock: SharedClock,
    plan: Plan,
    machine: Mutex<Machine>,
    op: tokio::sync::Mutex<()>,
    wake: Notify,
    wake_pending: AtomicBool,
    ticks: watch::Sender<u64>,
    sessions: OnceLock<SessionProbe>,
    state_file: Option<StateFile>,
}

impl std::fmt::Debug for Rotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation")
            .field("remote", &self.remote)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

fn secs_until(t: i64, now: i64) -> i64 {
    ((t - now).max(0) + 999) / 1000
}

impl Rotation {
    /// A machine without a token. Orphans of `remote`'s workspace are read from `state_file`.
    pub fn new(
        cell: Arc<TokenCell>,
        remote: Remote,
        clock: SharedClock,
        plan: Plan,
        state_file: Option<StateFile>,
    ) -> Arc<Self> {
        let now = clock.now_ms();
        let saved = state_file.as_ref().map(|f| f.load()).unwrap_or_default();
        let orphans = saved
            .tokens
            .into_iter()
            .filter(|r| r.host == remote.host() && r.expires_ms > now)
            .map(|record| Orphan {
                record,
                attempts: 0,
                next_try_ms: now,
            })
            .collect::<Vec<_>>();
        let sweeps = saved
            .instances
            .into_iter()
            .filter(|r| r.host == remote.host() && r.until_ms > now && r.comment != plan.comment)
            .map(|record| Sweep {
                record,
                attempts: 0,
                next_try_ms: now,
            })
            .collect::<Vec<_>>();
        if !orphans.is_empty() || !sweeps.is_empty() {
            tracing::info!(
                count = orphans.len(),
                earlier_runs = sweeps.len(),
                "tokens of an earlier run will be revoked once kiln has a token"
            );
        }
        Arc::new(Self {
            cell,
            remote,
            clock,
            plan,
            machine: Mutex::new(Machine {
                phase: Phase::NeedsToken,
                reason: None,
                pending: Vec::new(),
                orphans,
                sweeps,
                own_until_ms: None,
                failures: 0,
                error: None,
                revoke_error: None,
                next_retry_ms: None,
                generation: 0,
                rotations: 0,
                revoked: 0,
                last_rotation_ms: None,
                last_activity_ms: now,
            }),
            op: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            wake_pending: AtomicBool::new(false),
            ticks: watch::Sender::new(0),
            sessions: OnceLock::new(),
            state_file,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The workspace.
    pub fn remote(&self) -> &Remote {
        &self.remote
    }

    /// The schedule.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Tells the machine how to count live terminal sessions (set once).
    pub fn set_session_probe(&self, probe: SessionProbe) {
        let _ = self.sessions.set(probe);
    }

    /// Exclusive right to change tokens (held by a rotation step or a paste).
    pub async fn exclusive(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.op.lock().await
    }

    fn wake(&self) {
        self.wake_pending.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// The owner did something: rotation continues for another activity window.
    pub fn touch(&self) {
        let now = self.clock.now_ms();
        let lapsing = {
            let mut m = self.lock();
            m.last_activity_ms = now;
            m.phase == Phase::Lapsing
        };
        if lapsing {
            self.wake();
        }
    }

    fn keep_alive(&self, m: &Machine, now: i64) -> bool {
        let sessions = self.sessions.get().map_or(0, |probe| probe());
        sessions > 0 || now.saturating_sub(m.last_activity_ms) <= ms(self.plan.activity_window)
    }

    /// Records, before a mint, that this instance may hold a token until the mint's lifetime
    /// (plus a margin) from now: if kiln dies before it learns the new token's id, the next start
    /// finds the token by this instance's comment. Call right before every mint.
    pub fn record_intent(&self) {
        let until = self
            .clock
            .now_ms()
            .saturating_add(ms(self.plan.lifetime + INSTANCE_MARGIN));
        let changed = {
            let mut m = self.lock();
            let was = m.own_until_ms;
            m.own_until_ms = Some(was.map_or(until, |w| w.max(until)));
            m.own_until_ms != was
        };
        if changed {
            self.persist();
        }
    }

    /// Installs a token minted from a pasted one (the caller holds [`Rotation::exclusive`]).
    /// The token held before, if any, is revoked after the grace period.
    pub fn install(&self, created: Created) -> Arc<MintedToken> {
        let generation = {
            let mut m = self.lock();
            m.generation += 1;
            m.generation
        };
        let new = Arc::new(created.into_minted(generation));
        let old = self.cell.minted();
        self.cell.set_minted(new.clone());
        let now = self.clock.now_ms();
        {
            let mut m = self.lock();
            if let Some(old) = old.filter(|o| now < o.expires_ms) {
                m.pending.push(self.pending_for(&old, now));
            }
            m.phase = Phase::Active;
            m.reason = None;
            m.failures = 0;
            m.error = None;
            m.next_retry_ms = None;
            m.last_activity_ms = now;
        }
        tracing::info!(generation, token_id = %new.id, lifetime_s = (new.expires_ms - new.obtained_ms) / 1000, "token installed");
        self.persist();
        self.wake();
        new
    }

    fn pending_for(&self, old: &MintedToken, now: i64) -> Pending {
        let revoke_at_ms = now.saturating_add(ms(self.plan.grace));
        Pending {
            id: old.id.clone(),
            value: old.value.clone(),
            revoke_at_ms,
            expires_ms: old.expires_ms,
            attempts: 0,
            next_try_ms: revoke_at_ms,
        }
    }

    /// Runs the machine until `shutdown`.
    pub fn spawn(self: &Arc<Self>, shutdown: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                {
                    let _op = this.op.lock().await;
                    // Cleared under the operation lock: `settled` sees either the wake still
                    // pending or the lock held until what it asked for is done.
                    this.wake_pending.store(false, Ordering::SeqCst);
                    this.run_due().await;
                }
                this.ticks.send_modify(|n| *n = n.wrapping_add(1));
                let deadline = this.next_deadline();
                let now = this.clock.now_ms();
                if deadline.is_some_and(|d| d <= now) {
                    // Something is due yet could not be done: do not spin.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let sleep = async {
                    match deadline {
                        Some(d) => this.clock.sleep_until(d).await,
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = this.wake.notified() => {}
                    _ = sleep => {}
                }
            }
        });
    }

    /// The earliest instant something is due.
    fn next_deadline(&self) -> Option<i64> {
        let current = self.cell.minted();
        let m = self.lock();
        let mut times = Vec::new();
        if let Some(cur) = &current {
            times.push(cur.expires_ms);
            if m.phase != Phase::Lapsing {
                times.push(cur.rotate_at_ms.max(m.next_retry_ms.unwrap_or(i64::MIN)));
            }
            times.extend(m.orphans.iter().map(|o| o.next_try_ms));
            times.extend(m.sweeps.iter().map(|s| s.next_try_ms));
        }
        times.extend(
            m.pending
                .iter()
                .map(|p| p.revoke_at_ms.max(p.next_try_ms).min(p.expires_ms)),
        );
        times.into_iter().min()
    }

    /// Does whatever is due now (the caller holds the operation lock).
    async fn run_due(&self) {
        let now = self.clock.now_ms();
        let mut dirty = false;
        if let Some(cur) = self.cell.minted()
            && now >= cur.expires_ms
        {
            self.cell.clear();
            let mut m = self.lock();
            let reason = if m.phase == Phase::Lapsing {
                "the token was left to lapse: no terminal was open and kiln was not used for a \
                 while; paste a new one"
                    .to_owned()
            } else {
                match &m.error {
                    Some(e) => format!("the token expired before kiln could replace it ({e})"),
                    None => "the token expired".to_owned(),
                }
            };
            tracing::warn!(token_id = %cur.id, reason = %reason, "no usable token");
            m.phase = Phase::NeedsToken;
            m.reason = Some(reason);
            m.next_retry_ms = None;
            dirty = true;
        }
        if let Some(cur) = self.cell.minted()
            && now >= cur.rotate_at_ms
        {
            let (retry_ok, keep) = {
                let m = self.lock();
                (
                    m.next_retry_ms.is_none_or(|t| now >= t),
                    self.keep_alive(&m, now),
                )
            };
            if retry_ok && keep {
                self.rotate(&cur).await;
                dirty = true;
            } else if !keep {
                let mut m = self.lock();
                if m.phase != Phase::Lapsing {
                    tracing::info!(
                        "no terminal open and no recent activity: the token is left to lapse"
                    );
                    m.phase = Phase::Lapsing;
                }
            }
        }
        dirty |= self.revoke_due().await;
        dirty |= self.revoke_orphans().await;
        if dirty {
            self.persist();
        }
    }

    async fn rotate(&self, cur: &Arc<MintedToken>) {
        self.record_intent();
        let result = self
            .remote
            .mint(
                &cur.value,
                self.plan.lifetime,
                &self.plan.comment,
                Patience::Once,
            )
            .await;
        let now = self.clock.now_ms();
        match result {
            Ok(created) => {
                let generation = {
                    let mut m = self.lock();
                    m.generation += 1;
                    m.generation
                };
                let new = Arc::new(created.into_minted(generation));
                self.cell.set_minted(new.clone());
                let mut m = self.lock();
                m.pending.push(self.pending_for(cur, now));
                m.phase = Phase::Active;
                m.failures = 0;
                m.error = None;
                m.next_retry_ms = None;
                m.rotations += 1;
                m.last_rotation_ms = Some(now);
                tracing::info!(generation, token_id = %new.id, previous = %cur.id, "token rotated");
            }
            Err(e) => {
                if e.is_auth_failure() && self.is_dead(&cur.value).await {
                    self.cell.clear();
                    let mut m = self.lock();
                    m.phase = Phase::NeedsToken;
                    m.reason = Some(
                        "Databricks no longer accepts kiln's token (was it revoked outside \
                         kiln?); paste a new one"
                            .into(),
                    );
                    m.next_retry_ms = None;
                    tracing::warn!(token_id = %cur.id, error = %e, "the current token was refused");
                    return;
                }
                let mut m = self.lock();
                m.failures += 1;
                let delay = self.plan.retry_after(m.failures);
                m.next_retry_ms = Some(now.saturating_add(delay));
                m.error = Some(format!("cannot mint the next token: {e}"));
                m.phase = Phase::Retrying;
                tracing::warn!(failures = m.failures, retry_in_ms = delay, error = %e, "token rotation failed");
            }
        }
    }

    /// Whether Databricks refuses `token` itself (rather than one call made with it).
    async fn is_dead(&self, token: &Secret) -> bool {
        match self.remote.me(token, Patience::Once).await {
            Ok(_) => false,
            Err(e) => e.is_auth_failure(),
        }
    }

    /// Revokes replaced tokens whose grace period is over; true if anything changed.
    async fn revoke_due(&self) -> bool {
        let now = self.clock.now_ms();
        let mut changed = false;
        let due: Vec<(String, Secret)> = {
            let mut m = self.lock();
            let before = m.pending.len();
            m.pending.retain(|p| now < p.expires_ms);
            changed |= m.pending.len() != before;
            m.pending
                .iter()
                .filter(|p| now >= p.revoke_at_ms.max(p.next_try_ms))
                .map(|p| (p.id.clone(), p.value.clone()))
                .collect()
        };
        let auth = self
            .cell
            .minted()
            .filter(|c| now < c.expires_ms)
            .map(|c| c.value.clone());
        for (id, own) in due {
            changed = true;
            let with = auth.clone().unwrap_or(own);
            let result = self.remote.revoke(&with, &id, Patience::Once).await;
            let now = self.clock.now_ms();
            let mut m = self.lock();
            let Some(i) = m.pending.iter().position(|p| p.id == id) else {
                continue;
            };
            match result {
                Ok(how) => {
                    m.pending.remove(i);
                    m.revoke_error = None;
                    if how == Revoked::Now {
                        m.revoked += 1;
                    }
                    tracing::info!(token_id = %id, already_gone = (how == Revoked::AlreadyGone), "previous token revoked");
                }
                Err(e) => {
                    let retry = {
                        let p = &mut m.pending[i];
                        p.attempts += 1;
                        let delay = self.plan.retry_after(p.attempts);
                        p.next_try_ms = now.saturating_add(delay);
                        delay
                    };
                    m.revoke_error = Some(format!("cannot revoke the previous token: {e}"));
                    tracing::warn!(token_id = %id, retry_in_ms = retry, error = %e, "revocation failed");
                }
            }
        }
        changed
    }

    /// Revokes tokens of an earlier run (needs a current token); true if anything changed.
    async fn revoke_orphans(&self) -> bool {
        let now = self.clock.now_ms();
        let Some(auth) = self
            .cell
            .minted()
            .filter(|c| now < c.expires_ms)
            .map(|c| c.value.clone())
        else {
            return false;
        };
        let due: Vec<String> = {
            let mut m = self.lock();
            m.orphans.retain(|o| now < o.record.expires_ms);
            m.orphans
                .iter()
                .filter(|o| now >= o.next_try_ms)
                .map(|o| o.record.token_id.clone())
                .collect()
        };
        let changed = !due.is_empty();
        for id in due {
            let result = self.remote.revoke(&auth, &id, Patience::Once).await;
            let now = self.clock.now_ms();
            let mut m = self.lock();
            let Some(i) = m.orphans.iter().position(|o| o.record.token_id == id) else {
                continue;
            };
            match result {
                Ok(how) => {
                    m.orphans.remove(i);
                    if how == Revoked::Now {
                        m.revoked += 1;
                    }
                    tracing::info!(token_id = %id, already_gone = (how == Revoked::AlreadyGone), "token of an earlier run revoked");
                }
                Err(e) if matches!(e.status(), Some(403)) => {
                    // Another user's token (the owner changed): not ours to revoke.
                    m.orphans.remove(i);
                    tracing::info!(token_id = %id, error = %e, "cannot revoke a token of an earlier run; dropping it");
                }
                Err(e) => {
                    let o = &mut m.orphans[i];
                    o.attempts += 1;
                    o.next_try_ms = now.saturating_add(self.plan.retry_after(o.attempts));
                    tracing::warn!(token_id = %id, error = %e, "revoking a token of an earlier run failed");
                }
            }
        }
        changed | self.sweep_earlier_runs(&auth).await
    }

    /// Revokes the tokens of earlier runs found by their comment in the token list (tokens minted
    /// just before a crash, whose ids were never recorded); true if anything changed.
    async fn sweep_earlier_runs(&self, auth: &Secret) -> bool {
        let now = self.clock.now_ms();
        let (due, expired) = {
            let mut m = self.lock();
            let before = m.sweeps.len();
            m.sweeps.retain(|s| now < s.record.until_ms);
            let due: Vec<String> = m
                .sweeps
                .iter()
                .filter(|s| now >= s.next_try_ms)
                .map(|s| s.record.comment.clone())
                .collect();
            (due, m.sweeps.len() != before)
        };
        if due.is_empty() {
            return expired;
        }
        let listed = self.remote.list(auth, Patience::Once).await;
        let mine: Vec<String> = {
            let m = self.lock();
            self.cell
                .minted()
                .map(|c| c.id.clone())
                .into_iter()
                .chain(m.pending.iter().map(|p| p.id.clone()))
                .collect()
        };
        for comment in due {
            let outcome = match &listed {
                Err(e) => Err(e.to_string()),
                Ok(tokens) => {
                    let mut failed = None;
                    for t in tokens.iter().filter(|t| {
                        t.comment.as_deref() == Some(comment.as_str())
                            && !mine.contains(&t.token_id)
                    }) {
                        match self.remote.revoke(auth, &t.token_id, Patience::Once).await {
                            Ok(how) => {
                                let mut m = self.lock();
                                m.orphans.retain(|o| o.record.token_id != t.token_id);
                                if how == Revoked::Now {
                                    m.revoked += 1;
                                }
                                tracing::info!(token_id = %t.token_id, "token of an earlier run found by its comment and revoked");
                            }
                            Err(e) => failed = Some(e.to_string()),
                        }
                    }
                    failed.map_or(Ok(()), Err)
                }
            };
            let now = self.clock.now_ms();
            let mut m = self.lock();
            let Some(i) = m.sweeps.iter().position(|s| s.record.comment == comment) else {
                continue;
            };
            match outcome {
                Ok(()) => {
                    m.sweeps.remove(i);
                }
                Err(e) => {
                    let s = &mut m.sweeps[i];
                    s.attempts += 1;
                    s.next_try_ms = now.saturating_add(self.plan.retry_after(s.attempts));
                    tracing::warn!(error = %e, "sweeping the tokens of an earlier run failed");
                }
            }
        }
        true
    }

    fn persist(&self) {
        let Some(file) = &self.state_file else { return };
        let host = self.remote.host().to_owned();
        let current = self.cell.minted();
        let m = self.lock();
        let instances: Vec<InstanceRecord> = m
            .own_until_ms
            .map(|until_ms| InstanceRecord {
                comment: self.plan.comment.clone(),
                host: host.clone(),
                until_ms,
            })
            .into_iter()
            .chain(m.sweeps.iter().map(|s| s.record.clone()))
            .collect();
        let records: Vec<TokenRecord> = {
            current
                .iter()
                .map(|c| (c.id.clone(), c.expires_ms))
                .chain(m.pending.iter().map(|p| (p.id.clone(), p.expires_ms)))
                .chain(
                    m.orphans
                        .iter()
                        .map(|o| (o.record.token_id.clone(), o.record.expires_ms)),
                )
                .map(|(token_id, expires_ms)| TokenRecord {
                    token_id,
                    expires_ms,
                    host: host.clone(),
                })
                .collect()
        };
        drop(m);
        file.save(&State {
            tokens: records,
            instances,
        });
    }

    /// Revokes the current and every replaced token (kiln is stopping: tokens are never kept
    /// across restarts). What cannot be revoked stays in the state file for the next run.
    pub async fn revoke_all(&self) {
        let _op = self.op.lock().await;
        let now = self.clock.now_ms();
        let current = self.cell.minted().filter(|c| now < c.expires_ms);
        let mut targets: Vec<(String, Secret)> = {
            let m = self.lock();
            m.pending
                .iter()
                .filter(|p| now < p.expires_ms)
                .map(|p| (p.id.clone(), p.value.clone()))
                .collect()
        };
        if let Some(c) = &current {
            // The current token last: it authenticates the others.
            targets.push((c.id.clone(), c.value.clone()));
        }
        let mut failed = false;
        for (id, own) in targets {
            let with = current.as_ref().map_or(own, |c| c.value.clone());
            match self.remote.revoke(&with, &id, Patience::Once).await {
                Ok(_) => {
                    tracing::info!(token_id = %id, "token revoked at shutdown");
                    self.lock().pending.retain(|p| p.id != id);
                }
                Err(e) => {
                    failed = true;
                    tracing::warn!(token_id = %id, error = %e, "cannot revoke a token at shutdown; the next start will");
                }
            }
        }
        if !failed {
            self.cell.clear();
            let mut m = self.lock();
            m.phase = Phase::NeedsToken;
            m.reason = Some("kiln stopped".into());
            // Every token of this instance is revoked (no mint runs: the operation lock is held).
            m.own_until_ms = None;
        }
        self.persist();
    }

    /// The status.
    pub fn status(&self) -> RotationStatus {
        let now = self.clock.now_ms();
        let current = self.cell.minted().filter(|c| now < c.expires_ms);
        let m = self.lock();
        RotationStatus {
            state: m.phase,
            reason: m.reason.clone(),
            token_id: current.as_ref().map(|c| c.id.clone()),
            generation: m.generation,
            rotations: m.rotations,
            expires_in_seconds: current.as_ref().map(|c| secs_until(c.expires_ms, now)),
            rotates_in_seconds: current
                .as_ref()
                .filter(|_| m.phase != Phase::Lapsing)
                .map(|c| secs_until(c.rotate_at_ms.max(m.next_retry_ms.unwrap_or(0)), now)),
            lifetime_seconds: self.plan.lifetime.as_secs(),
            last_rotation_seconds_ago: m.last_rotation_ms.map(|t| (now - t).max(0) / 1000),
            failures: m.failures,
            error: m.error.clone().filter(|_| m.phase == Phase::Retrying),
            revoke_error: m.revoke_error.clone(),
            next_retry_in_seconds: m
                .next_retry_ms
                .filter(|_| m.phase == Phase::Retrying)
                .map(|t| secs_until(t, now)),
            previous_tokens_alive: m.pending.len(),
            orphans: m.orphans.len(),
            earlier_runs: m.sweeps.len(),
            revoked: m.revoked,
            keep_alive: self.keep_alive(&m, now),
        }
    }

    /// Resolves once nothing is due at the clock's current time and no step is running (tests
    /// call this after moving the clock).
    pub async fn settled(&self) {
        let mut ticks = self.ticks.subscribe();
        loop {
            let idle = match self.op.try_lock() {
                Ok(_guard) => {
                    let now = self.clock.now_ms();
                    !self.wake_pending.load(Ordering::SeqCst)
                        && self.next_deadline().is_none_or(|d| d > now)
                }
                Err(_) => false,
            };
            if idle {
                return;
            }
            tokio::select! {
                _ = ticks.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    }
}
