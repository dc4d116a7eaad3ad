//! `kiln token`: prints the current Databricks token of the running `kiln serve`, asked from its
//! loopback broker (`~/.kiln/broker.json` says where, `~/.kiln/broker.key` authenticates), for
//! tools that take a helper command. Exit codes: 0 printed, 1 kiln has no token (or refused),
//! 2 no kiln is running for this home directory.
//!
//! The request goes to a loopback address, never through a proxy: the key never goes anywhere
//! else (a discovery file naming another host is refused).

use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Arguments of `kiln token`.
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// Print the broker's JSON (`access_token`, `token_type`, `expires_on` in epoch seconds:
    /// when to ask again) instead of the token alone.
    #[arg(long)]
    pub json: bool,
}

/// Why no token was printed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No broker to ask.
    #[error("{0}")]
    NoBroker(String),
    /// The broker answered without a token.
    #[error("{0}")]
    NoToken(String),
}

/// Largest answer read (64 KiB).
const MAX_ANSWER_BYTES: usize = 64 << 10;
const TIMEOUT: Duration = Duration::from_secs(10);

fn broker_addr(kiln_dir: &Path) -> Result<SocketAddr, TokenError> {
    let path = kiln_dir.join(crate::credentials::broker::INFO_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        TokenError::NoBroker(format!(
            "no running kiln serve found ({}: {e}); start kiln serve, or run this in one of its terminals",
            path.display()
        ))
    })?;
    let info: Value = serde_json::from_str(&text)
        .map_err(|e| TokenError::NoBroker(format!("{} is damaged: {e}", path.display())))?;
    let url = info["url"].as_str().unwrap_or_default();
    let addr: SocketAddr = url
        .strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            TokenError::NoBroker(format!("{} names no broker address", path.display()))
        })?;
    if !addr.ip().is_loopback() {
        return Err(TokenError::NoBroker(format!(
            "{} names a non-loopback address ({addr}); refusing to send the key there",
            path.display()
        )));
    }
    Ok(addr)
}

/// Asks the broker of the kiln whose files are in `kiln_dir`; returns its JSON answer.
pub async fn fetch(kiln_dir: &Path) -> Result<Value, TokenError> {
    let addr = broker_addr(kiln_dir)?;
    let key_path = kiln_dir.join(crate::credentials::broker::KEY_FILE);
    let key = std::fs::read_to_string(&key_path)
        .map_err(|e| TokenError::NoBroker(format!("cannot read {}: {e}", key_path.display())))?;
    let unreachable = |e: reqwest::Error| {
        TokenError::NoBroker(format!(
            "kiln's broker at {addr} is not answering ({}); is kiln serve still running?",
            crate::http::client::error_chain(&e)
        ))
    };
    // Loopback only and never through a proxy: the key goes to the broker and nowhere else.
    crate::http::client::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
        .map_err(unreachable)?;
    let mut response = client
        .get(format!("http://{addr}/token"))
        .bearer_auth(key.trim())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(TokenError::NoToken(format!(
                "the broker's answer is over {MAX_ANSWER_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if status == 200 && json["access_token"].is_string() {
        Ok(json)
    } else {
        let message = json["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the broker answered HTTP {status}"));
        Err(TokenError::NoToken(message))
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Runs `kiln token`.
pub async fn run(args: TokenArgs) -> ExitCode {
    let Some(home) = home() else {
        eprintln!("kiln token: HOME is not set");
        return ExitCode::from(2);
    };
    match fetch(&home.join(crate::state::DIR_NAME)).await {
        Ok(json) => {
            if args.json {
                println!("{json}");
            } else {
                println!("{}", json["access_token"].as_str().unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kiln token: {e}");
            ExitCode::from(match e {
                TokenError::NoBroker(_) => 2,
                TokenError::NoToken(_) => 1,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn missing_or_foreign_brokers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            fetch(dir.path()).await,
            Err(TokenError::NoBroker(_))
        ));
        std::fs::write(
            dir.path().join("broker.json"),
            r#"{"url":"http://10.0.0.1:80"}"#,
        )
        .unwrap();
        let e = fetch(dir.path()).await.unwrap_err().to_string();
        assert!(e.contains("non-loopback"), "{e}");
    }
}
