//! `kiln token`: prints the current Databricks token of the running `kiln serve`, asked from its
//! loopback broker (`~/.kiln/broker.json` says where, `~/.kiln/broker.key` authenticates), for
//! tools that take a helper command. Exit codes: 0 printed, 1 kiln has no token (or refused),
//! 2 no kiln is running for this home directory.
//!
//! The request is plain HTTP/1.1 over a loopback socket: the key never goes anywhere else (a
//! discovery file naming another host is refused).

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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
const MAX_ANSWER_BYTES: u64 = 64 << 10;
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
pub fn fetch(kiln_dir: &Path) -> Result<Value, TokenError> {
    let addr = broker_addr(kiln_dir)?;
    let key_path = kiln_dir.join(crate::credentials::broker::KEY_FILE);
    let key = std::fs::read_to_string(&key_path)
        .map_err(|e| TokenError::NoBroker(format!("cannot read {}: {e}", key_path.display())))?;
    let key = key.trim();
    let unreachable = |e: std::io::Error| {
        TokenError::NoBroker(format!(
            "kiln's broker at {addr} is not answering ({e}); is kiln serve still running?"
        ))
    };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(TIMEOUT))
        .map_err(unreachable)?;
    let request = format!(
        "GET /token HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    let mut raw = Vec::new();
    stream
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut raw)
        .map_err(unreachable)?;
    let (status, body) = parse_response(&raw)
        .ok_or_else(|| TokenError::NoBroker("the broker's answer is not HTTP".into()))?;
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

/// Status code and (de-chunked) body of an HTTP/1.1 response.
fn parse_response(raw: &[u8]) -> Option<(u16, Vec<u8>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let chunked = lines.any(|l| {
        l.split_once(':').is_some_and(|(k, v)| {
            k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.to_ascii_lowercase().contains("chunked")
        })
    });
    if !chunked {
        return Some((status, body.to_vec()));
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Runs `kiln token`.
pub fn main(args: TokenArgs) -> ExitCode {
    let Some(home) = home() else {
        eprintln!("kiln token: HOME is not set");
        return ExitCode::from(2);
    };
    match fetch(&home.join(crate::state::DIR_NAME)) {
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

    #[test]
    fn responses_are_parsed() {
        let (s, b) = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").unwrap();
        assert_eq!((s, b.as_slice()), (200, b"{}".as_slice()));
        let (s, b) = parse_response(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((s, b.as_slice()), (503, b"abcde".as_slice()));
        assert!(parse_response(b"garbage").is_none());
    }

    #[test]
    fn missing_or_foreign_brokers_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(fetch(dir.path()), Err(TokenError::NoBroker(_))));
        std::fs::write(
            dir.path().join("broker.json"),
            r#"{"url":"http://10.0.0.1:80"}"#,
        )
        .unwrap();
        let e = fetch(dir.path()).unwrap_err().to_string();
        assert!(e.contains("non-loopback"), "{e}");
    }
}
