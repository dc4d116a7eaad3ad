//! What every `reqwest` client of kiln needs: the crypto provider installed before it is built,
//! and error chains for messages.

/// Installs rustls' ring provider as the process default (once; a provider already installed is
/// just as good). Call before building a `reqwest::Client`: reqwest is built without a provider
/// of its own and panics when there is none.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The error chain of a `reqwest` error, for messages (URLs and causes, never headers).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
