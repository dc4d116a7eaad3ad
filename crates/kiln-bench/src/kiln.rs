//! The system under test: `kiln serve` started as a child process (port 0, a fixed access key,
//! a temporary HOME), its printed URL parsed, and a small HTTP/1.1 client for the REST calls the
//! bench needs (create, inspect and delete sessions). Memory is read from `/proc/<pid>/status`.

use anyhow::{Context, anyhow, bail};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How `kiln serve` is started.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub kiln: PathBuf,
    pub shell: PathBuf,
    pub max_sessions: usize,
    pub ring_bytes: usize,
}

/// Where a server listens and how to authenticate to it.
#[derive(Clone)]
pub struct Api {
    pub addr: SocketAddr,
    key: String,
}

/// A running `kiln serve`.
pub struct KilnServer {
    child: tokio::process::Child,
    pub pid: u32,
    pub api: Api,
}

/// A throwaway directory (HOME for shells), removed on drop.
pub struct TempHome(pub PathBuf);

impl TempHome {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "kiln-bench-{}-{tag}-{nanos:08x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempHome(dir))
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An access key for one run: loopback only, never printed.
fn run_key() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "kiln-bench-{:032x}",
        t ^ (u128::from(std::process::id()) << 64)
    )
}

impl KilnServer {
    /// Starts `kiln serve --bind 127.0.0.1:0` with HOME = `home` and waits for its URL.
    pub async fn start(cfg: &ServerConfig, home: &Path) -> anyhow::Result<Self> {
        Self::start_with_env(cfg, home, &[]).await
    }

    /// [`KilnServer::start`] with changes to the inherited environment: `(name, Some(value))`
    /// sets a variable, `(name, None)` removes it.
    pub async fn start_with_env(
        cfg: &ServerConfig,
        home: &Path,
        env: &[(&str, Option<&str>)],
    ) -> anyhow::Result<Self> {
        let key = run_key();
        let log = std::fs::File::create(home.join("kiln-serve.log"))?;
        let mut cmd = tokio::process::Command::new(&cfg.kiln);
        cmd.arg("serve")
            .args(["--bind", "127.0.0.1:0"])
            .arg("--shell")
            .arg(&cfg.shell)
            .args(["--max-sessions", &cfg.max_sessions.to_string()])
            .args(["--ring-bytes", &cfg.ring_bytes.to_string()])
            .env("KILN_ACCESS_KEY", &key)
            .env("HOME", home)
            .env_remove("RUST_LOG");
        for (name, value) in env {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        crate::orphan::server(&mut cmd);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", cfg.kiln.display()))?;
        let pid = child.id().ok_or_else(|| anyhow!("kiln exited at once"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("kiln: open http://") {
                    let host = rest.split('/').next().unwrap_or_default();
                    return host
                        .parse::<SocketAddr>()
                        .with_context(|| format!("unexpected URL host {host:?}"));
                }
            }
            bail!("kiln serve ended without printing its URL (see kiln-serve.log)")
        })
        .await
        .context("kiln serve printed no URL within 10 s")??;
        // Nothing more is expected on stdout; keep draining it so the server never blocks.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(KilnServer {
            child,
            pid,
            api: Api { addr, key },
        })
    }

    /// SIGTERM, then wait for the exit (SIGKILL after 10 s).
    pub async fn stop(mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// The kiln binary: `explicit`, else `kiln` next to this executable (the same target dir).
pub fn locate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    let kiln = match explicit {
        Some(k) => k.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot locate this executable")?
            .parent()
            .map(|d| d.join("kiln"))
            .context("this executable has no parent directory")?,
    };
    if !kiln.is_file() {
        bail!(
            "no kiln binary at {} (build it with `cargo build -p kiln`, `--release` for \
             benchmarks, or pass --kiln)",
            kiln.display()
        );
    }
    Ok(kiln)
}

/// Resident memory of a process, from `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    pub current: u64,
    pub peak: u64,
}

/// Reads `VmRSS` and `VmHWM` of `pid`.
pub fn rss(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow!("{name} missing from /proc/{pid}/status"))?;
        let kb: u64 = line
            .trim_start_matches(name)
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?;
        Ok(kb * 1024)
    };
    Ok(Rss {
        current: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

impl Api {
    /// A server at `addr` that takes `key` as its bearer token.
    pub fn new(addr: SocketAddr, key: String) -> Self {
        Api { addr, key }
    }

    /// One request on a fresh connection; returns the status and the body.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut s = TcpStream::connect(self.addr).await?;
        s.set_nodelay(true)?;
        let body = body.map(Value::to_string).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            self.key,
            body.len()
        );
        s.write_all(format!("{head}{body}").as_bytes()).await?;
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await?;
        let split = crate::term::find(&resp, b"\r\n\r\n")
            .ok_or_else(|| anyhow!("malformed HTTP response to {method} {path}"))?;
        let status_line = String::from_utf8_lossy(&resp[..split]);
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| anyhow!("no status in the response to {method} {path}"))?;
        Ok((status, resp[split + 4..].to_vec()))
    }

    async fn json(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        want: u16,
    ) -> anyhow::Result<Value> {
        let (status, body) = self.request(method, path, body).await?;
        if status != want {
            bail!(
                "{method} {path}: status {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(serde_json::from_slice(&body)?)
    }

    /// Creates an 80x24 session and returns its id.
    pub async fn create_session(&self) -> anyhow::Result<String> {
        let body = serde_json::json!({"cols": 80, "rows": 24});
        let v = self.json("POST", "/api/sessions", Some(&body), 201).await?;
        v["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no id in the created session"))
    }

    /// The end offset of a session's output stream.
    pub async fn session_offset(&self, id: &str) -> anyhow::Result<u64> {
        let v = self
            .json("GET", &format!("/api/sessions/{id}"), None, 200)
            .await?;
        v["offset"]
            .as_u64()
            .ok_or_else(|| anyhow!("no offset in session {id}"))
    }

    /// Deletes a session (its whole process group ends).
    pub async fn delete_session(&self, id: &str) -> anyhow::Result<()> {
        let (status, _) = self
            .request("DELETE", &format!("/api/sessions/{id}"), None)
            .await?;
        if status != 204 {
            bail!("DELETE session {id}: status {status}");
        }
        Ok(())
    }

    /// `GET /health`.
    pub async fn health(&self) -> anyhow::Result<()> {
        let (status, _) = self.request("GET", "/health", None).await?;
        if status != 200 {
            bail!("/health answered {status}");
        }
        Ok(())
    }

    /// The `Authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.key)
    }
}
