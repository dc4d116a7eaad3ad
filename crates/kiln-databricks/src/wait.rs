//! Polling a resource until it reaches a state: intervals start at 250 ms and double up to the
//! client's `max_poll_interval`; a failure state ends the wait early; a deadline bounds it.

use crate::error::{Error, Result};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// First pause between polls.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One observation of the resource.
pub(crate) enum Poll<T> {
    /// Reached the target.
    Ready(T),
    /// Not yet; the current state.
    Pending(String),
    /// A state from which the target cannot be reached.
    Failed { state: String, message: String },
}

/// Probes until ready, failed, or `timeout` has passed.
pub(crate) async fn wait_for<T, F, Fut>(
    what: &str,
    target: &str,
    timeout: Duration,
    max_interval: Duration,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = FIRST_POLL_INTERVAL.min(max_interval);
    loop {
        match probe().await? {
            Poll::Ready(v) => return Ok(v),
            Poll::Failed { state, message } => {
                return Err(Error::WaitFailed {
                    what: what.to_owned(),
                    target: target.to_owned(),
                    state,
                    message,
                });
            }
            Poll::Pending(state) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(Error::WaitTimeout {
                        what: what.to_owned(),
                        target: target.to_owned(),
                        last_state: state,
                        timeout,
                    });
                }
                tracing::debug!(what, state = %state, target, "waiting");
                tokio::time::sleep(interval.min(deadline - now)).await;
                interval = (interval * 2).min(max_interval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_failed_and_timeout() {
        let mut n = 0;
        let v = wait_for(
            "thing",
            "DONE",
            Duration::from_secs(60),
            Duration::from_secs(10),
            || {
                n += 1;
                let n = n;
                async move {
                    Ok(if n < 4 {
                        Poll::Pending(format!("S{n}"))
                    } else {
                        Poll::Ready(n)
                    })
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 4);

        let e = wait_for::<(), _, _>(
            "thing",
            "DONE",
            Duration::from_secs(60),
            Duration::from_secs(10),
            || async {
                Ok(Poll::Failed {
                    state: "ERROR".into(),
                    message: "broke".into(),
                })
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "thing reached state ERROR while waiting for DONE: broke"
        );

        let start = Instant::now();
        let e = wait_for::<(), _, _>(
            "thing",
            "DONE",
            Duration::from_secs(30),
            Duration::from_secs(10),
            || async { Ok(Poll::Pending("PENDING".into())) },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&e, Error::WaitTimeout { last_state, .. } if last_state == "PENDING"),
            "{e}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }
}
