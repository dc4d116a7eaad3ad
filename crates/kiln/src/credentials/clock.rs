//! Time for the credential machinery: wall-clock epoch milliseconds and sleeping until such an
//! instant, behind [`Clock`] so tests can move time forward in step with kiln-emulator's clock
//! (a 15-minute token lifetime, or two hours of rotations, pass in seconds of real time).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// Longest single sleep (60 s): sleeps are re-checked so a wall-clock jump or a suspended
/// laptop cannot make a deadline wait far longer than it should.
const MAX_NAP: Duration = Duration::from_secs(60);

/// The future returned by [`Clock::sleep_until`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
    /// Resolves once [`Clock::now_ms`] has reached `deadline_ms`.
    fn sleep_until(&self, deadline_ms: i64) -> Sleep<'_>;
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn nap(remaining_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0)).min(MAX_NAP)
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }

    fn sleep_until(&self, deadline_ms: i64) -> Sleep<'_> {
        Box::pin(async move {
            loop {
                let remaining = deadline_ms.saturating_sub(self.now_ms());
                if remaining <= 0 {
                    return;
                }
                tokio::time::sleep(nap(remaining)).await;
            }
        })
    }
}

/// Real time plus an offset that tests move forward with [`OffsetClock::advance`], which wakes
/// every sleeper at once. Advance it together with the emulator's clock (both follow real time
/// plus their own offset, so they stay in step).
#[derive(Debug)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
    advanced: watch::Sender<u64>,
}

impl Default for OffsetClock {
    fn default() -> Self {
        Self {
            offset_ms: AtomicI64::new(0),
            advanced: watch::Sender::new(0),
        }
    }
}

impl OffsetClock {
    /// A clock at real time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` and wakes every sleeper.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 4);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
        self.advanced.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        system_now_ms().saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }

    fn sleep_until(&self, deadline_ms: i64) -> Sleep<'_> {
        Box::pin(async move {
            // Subscribe before reading the time, so an advance in between is not missed.
            let mut advanced = self.advanced.subscribe();
            loop {
                let remaining = deadline_ms.saturating_sub(self.now_ms());
                if remaining <= 0 {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(nap(remaining)) => {}
                    _ = advanced.changed() => {}
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offset_clock_wakes_sleepers_when_advanced() {
        let clock = Arc::new(OffsetClock::new());
        let deadline = clock.now_ms() + 3_600_000;
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep_until(deadline).await })
        };
        clock.advance(Duration::from_secs(3601));
        tokio::time::timeout(Duration::from_secs(30), sleeper)
            .await
            .expect("the sleeper wakes")
            .expect("no panic");
        assert!(clock.now_ms() >= deadline);
    }

    #[tokio::test]
    async fn past_deadlines_return_at_once() {
        let clock = SystemClock;
        tokio::time::timeout(
            Duration::from_secs(30),
            clock.sleep_until(clock.now_ms() - 1),
        )
        .await
        .expect("no wait");
    }
}
