//! kiln's log output: `RUST_LOG` (default `info`) to stderr, with one exception `RUST_LOG`
//! cannot lift: the HTTP, TLS and WebSocket libraries ([`PINNED_TARGETS`]) never log below
//! INFO. At debug and trace they print frames, headers and bodies, which here are keystrokes,
//! terminal output and tokens. kiln's own events never carry payloads (the gateway's
//! `KILN_GATEWAY_LOG_BODIES` is the one explicit opt-in).

use tracing::{Level, Metadata};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Crates whose debug and trace output can hold payloads (target prefixes).
pub const PINNED_TARGETS: &[&str] = &[
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "http_body_util",
    "reqwest",
    "axum",
    "tower",
    "tower_http",
    "rustls",
    "tokio_rustls",
    "hyper_rustls",
];

/// The most verbose level a pinned target may log at.
pub const PINNED_MAX: Level = Level::INFO;

/// Whether an event or span of `target` at `level` may be logged at all.
pub fn allowed(target: &str, level: &Level) -> bool {
    *level <= PINNED_MAX || !is_pinned(target)
}

fn is_pinned(target: &str) -> bool {
    PINNED_TARGETS.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// Installs the subscriber (once; later calls do nothing).
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let pinned =
        tracing_subscriber::filter::filter_fn(|m: &Metadata<'_>| allowed(m.target(), m.level()));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(pinned)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_libraries_stop_at_info() {
        for target in [
            "tungstenite::protocol",
            "hyper",
            "h2::codec::framed_read",
            "axum::rejection",
        ] {
            assert!(!allowed(target, &Level::TRACE), "{target}");
            assert!(!allowed(target, &Level::DEBUG), "{target}");
            assert!(allowed(target, &Level::INFO), "{target}");
            assert!(allowed(target, &Level::WARN), "{target}");
        }
        for target in ["kiln::server", "hyperion", "h2o", "kiln_term"] {
            assert!(allowed(target, &Level::TRACE), "{target}");
        }
    }
}
