//! The fixture of the credentials tests: kiln-emulator plus an in-process kiln server whose
//! credential machinery runs on an [`OffsetClock`] moved together with the emulator's clock (a
//! 15-minute token lifetime passes in milliseconds), a capture of every log line, the owner's
//! requests, WebSockets with the proxy's headers, and the emulator's view of the tokens.

use futures_util::{SinkExt, StreamExt};
use kiln::credentials::{
    AppsEnv, AppsSettings, ConfigSource, Credentials, CredentialsOptions, OffsetClock, SharedClock,
    SystemClock,
};
use kiln::server::{self, AccessKey, AppState};
use kiln_databricks::api::tokens::TokenInfo;
use kiln_databricks::{
    Attr, Client, ClientOptions, ConfigLoader, Environment, Secret, StaticToken,
};
use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

pub use super::WAIT;
/// Access key in local mode.
pub const KEY: &str = "credentials-test-key-0123456789";
pub use super::PROMPT;
/// Comment prefix of every token kiln mints.
pub const KILN_COMMENT: &str = "kiln ";

// ---------------------------------------------------------------------------------------------
// Log capture

static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures every log line of this process (kiln, the Databricks client, the emulator, HTTP
/// libraries) at debug level and below.
pub fn capture_logs() {
    let buf = LOGS
        .get_or_init(|| Arc::new(Mutex::new(Vec::new())))
        .clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,hyper=debug,h2=debug",
        ))
        .with_ansi(false)
        .with_writer(move || LogWriter(buf.clone()))
        .try_init();
}

/// Everything logged so far.
pub fn logs() -> String {
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap()).into_owned())
        .unwrap_or_default()
}

/// Fails if any of `secrets` appears in a log line.
pub fn assert_not_logged(secrets: &[String]) {
    let text = logs();
    assert!(!text.is_empty(), "the capture recorded log lines");
    for s in secrets {
        assert!(!s.is_empty());
        if let Some(line) = text.lines().find(|l| l.contains(s.as_str())) {
            panic!("a secret was logged: {line}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The emulated workspace and the shared clock

/// kiln-emulator and the clock kiln uses, moved together.
pub struct World {
    pub emu: Arc<RunningEmulator>,
    pub clock: Arc<OffsetClock>,
}

impl World {
    pub async fn new(tune: impl FnOnce(&mut EmulatorOptions)) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut opts = EmulatorOptions::default();
        tune(&mut opts);
        let emu = Emulator::start(opts).await.unwrap();
        World {
            emu: Arc::new(emu),
            clock: Arc::new(OffsetClock::new()),
        }
    }

    /// Moves both clocks forward.
    pub fn advance(&self, by: Duration) {
        self.emu.advance(by);
        self.clock.advance(by);
    }

    /// kiln's clock now (epoch ms).
    pub fn clock_now_ms(&self) -> i64 {
        use kiln::credentials::Clock;
        self.clock.now_ms()
    }

    pub fn owner(&self) -> String {
        self.emu.user_email().to_owned()
    }

    /// A fresh PAT of `user` living `lifetime`.
    pub fn pat(&self, user: &str, lifetime: Duration) -> String {
        self.emu.create_token(user, Some(lifetime)).unwrap()
    }

    fn client(&self, token: &str) -> Client {
        let config = ConfigLoader::new(Environment::new())
            .set(Attr::Host, self.emu.url())
            .load()
            .unwrap();
        let options = ClientOptions {
            retry: kiln_databricks::RetryPolicy {
                budget: Duration::ZERO,
                ..Default::default()
            },
            ..Default::default()
        };
        Client::with_token_source(
            &config,
            Arc::new(StaticToken::new(Secret::new(token))),
            options,
        )
        .unwrap()
    }

    /// Whether the workspace accepts `token` now.
    pub async fn accepts(&self, token: &str) -> bool {
        self.client(token).scim().me().await.is_ok()
    }

    /// The owner's valid tokens (listed with the owner's seeded, non-expiring PAT).
    pub async fn tokens(&self) -> Vec<TokenInfo> {
        self.client(self.emu.user_token())
            .tokens()
            .list()
            .await
            .unwrap()
    }

    /// Ids of the owner's valid tokens minted by kiln.
    pub async fn kiln_token_ids(&self) -> Vec<String> {
        self.kiln_tokens()
            .await
            .into_iter()
            .map(|t| t.token_id)
            .collect()
    }

    /// The owner's valid tokens minted by kiln.
    pub async fn kiln_tokens(&self) -> Vec<TokenInfo> {
        self.tokens()
            .await
            .into_iter()
            .filter(|t| {
                t.comment
                    .as_deref()
                    .is_some_and(|c| c.starts_with(KILN_COMMENT))
            })
            .collect()
    }

    /// Requests to `path` with `method` answered with `status`.
    pub fn count(&self, method: &str, path: &str, status: u16) -> usize {
        self.emu
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path == path && r.status == status)
            .count()
    }
}

// ---------------------------------------------------------------------------------------------
// kiln

/// How to start kiln.
pub struct KilnConfig {
    /// Databricks Apps mode (owner check) or local mode (access key).
    pub apps: bool,
    /// `KILN_OWNER`.
    pub owner_override: Option<String>,
    /// Give kiln the app's service principal credentials.
    pub with_sp: bool,
    /// Lifetime of minted tokens.
    pub lifetime: Duration,
    /// Use the real clock instead of the world's.
    pub real_clock: bool,
    /// HOME (a fresh temporary one when `None`).
    pub home: Option<PathBuf>,
    /// Outside Apps: a configuration token (delegate mode).
    pub config_token: Option<String>,
    /// How long rotation continues after the owner's last activity (no terminal open).
    pub activity_window: Option<Duration>,
    /// Sync `~/projects` to the workspace (commits found by a frequent scan, not by hooks).
    pub sync: bool,
}

impl Default for KilnConfig {
    fn default() -> Self {
        Self {
            apps: true,
            owner_override: None,
            with_sp: true,
            lifetime: Duration::from_secs(900),
            real_clock: false,
            home: None,
            config_token: None,
            activity_window: None,
            sync: false,
        }
    }
}

pub struct Kiln {
    pub addr: SocketAddr,
    pub state: AppState,
    pub home: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
    pub apps: bool,
    pub owner: String,
    shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Kiln {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Kiln {
    pub async fn start(world: &World, cfg: KilnConfig) -> Kiln {
        let (tmp, home) = match cfg.home {
            Some(h) => (None, h),
            None => {
                let t = tempfile::tempdir().unwrap();
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let emu = &world.emu;
        let clock: SharedClock = if cfg.real_clock {
            Arc::new(SystemClock)
        } else {
            world.clock.clone()
        };
        let mut opts = server::Options::new(AccessKey::fixed(KEY).unwrap());
        opts.term.home = Some(home.clone());
        opts.term.extra_env = vec![("PS1".into(), PROMPT.into())];
        opts.command = Some(
            ["bash", "--noprofile", "--norc", "-i"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        opts.credentials = CredentialsOptions {
            lifetime: cfg.lifetime,
            clock,
            ..CredentialsOptions::default()
        };
        if let Some(w) = cfg.activity_window {
            opts.credentials.activity_window = w;
        }
        if cfg.apps {
            opts.credentials.apps = Some(AppsSettings {
                env: AppsEnv {
                    app_name: emu.app_name().to_owned(),
                    port: 0,
                    host: Some(emu.url().to_owned()),
                    workspace_id: Some(emu.workspace_id().to_string()),
                    client_id: cfg.with_sp.then(|| emu.sp_client_id().to_owned()),
                    owner_override: cfg.owner_override.clone(),
                },
                sp_secret: cfg.with_sp.then(|| Secret::new(emu.sp_client_secret())),
            });
        } else {
            opts.credentials.host = Some(emu.url().to_owned());
            opts.credentials.config_source = cfg.config_token.as_ref().map(|t| ConfigSource {
                source: Arc::new(StaticToken::new(Secret::new(t.clone()))),
                description: "token=*** (from the test)".into(),
            });
        }
        if cfg.sync {
            let mut s = kiln::sync::SyncOptions::new(home.clone());
            s.inbox_interval = Duration::from_millis(100);
            s.scan_interval = Duration::from_millis(200);
            s.request_budget = Duration::from_secs(4);
            s.backoff_first = Duration::from_millis(200);
            s.backoff_max = Duration::from_secs(1);
            opts.sync = Some(s);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let state = server::state(opts, shutdown.clone());
        let app = server::router(state.clone());
        let (manager, creds) = (state.manager.clone(), state.credentials.clone());
        let sd = shutdown.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(sd.cancelled_owned())
                .await
                .unwrap();
            tokio::join!(manager.shutdown(Duration::from_secs(5)), creds.shutdown());
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Kiln {
            addr,
            state,
            home,
            _tmp: tmp,
            http,
            apps: cfg.apps,
            owner: world.owner(),
            shutdown,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn creds(&self) -> &Credentials {
        &self.state.credentials
    }

    /// A request as the owner (the proxy's header on Apps, the key elsewhere).
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        let r = self.http.request(method, self.url(path));
        if self.apps {
            r.header("x-forwarded-email", &self.owner)
        } else {
            r.bearer_auth(KEY)
        }
    }

    /// A request as `email` (Apps mode).
    pub fn req_as(&self, email: &str, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("x-forwarded-email", email)
    }

    /// `GET path` as the owner, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.req(Method::GET, path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn credentials(&self) -> Value {
        let r = self
            .req(Method::GET, "/api/credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// The token part of the status.
    pub async fn token(&self) -> Value {
        self.credentials().await["token"].clone()
    }

    pub async fn paste(&self, token: &str) -> (StatusCode, Value) {
        let r = self
            .req(Method::POST, "/api/credentials")
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until nothing is due in the rotation at the clock's current time.
    pub async fn settle(&self) {
        tokio::time::timeout(WAIT, self.creds().settled())
            .await
            .expect("the rotation settles");
    }

    /// The current token value (from the cell).
    pub fn current_token(&self) -> Option<String> {
        self.creds()
            .cell()
            .minted()
            .map(|t| t.value.expose().to_owned())
    }

    pub async fn create_session(&self) -> String {
        let r = self
            .req(Method::POST, "/api/sessions")
            .json(&json!({"cols": 100, "rows": 30}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A terminal connection as the owner.
    pub async fn term(&self, id: &str) -> Term {
        let key = format!("Bearer {KEY}");
        let header = if self.apps {
            ("x-forwarded-email", self.owner.as_str())
        } else {
            ("authorization", key.as_str())
        };
        let req = super::ws_request_with(self.addr, id, None, &[header]);
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        Term {
            ws,
            seen: Vec::new(),
        }
    }

    /// Stops kiln as a signal would: it revokes its tokens and removes its files.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(WAIT, t).await.unwrap().unwrap();
        }
    }

    /// Stops kiln as a crash would: nothing is revoked, nothing removed.
    pub async fn crash(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
        self.shutdown.cancel();
        self.state.manager.shutdown(Duration::from_secs(5)).await;
    }
}

/// A terminal: input, and output searched for text.
pub struct Term {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub seen: Vec<u8>,
}

impl Term {
    pub async fn send(&mut self, text: &str) {
        self.ws
            .send(Message::Binary(text.as_bytes().to_vec().into()))
            .await
            .unwrap();
    }

    /// Reads until the output (since connecting) contains `needle`; returns it all.
    pub async fn read_until(&mut self, needle: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if String::from_utf8_lossy(&self.seen).contains(needle) {
                return String::from_utf8_lossy(&self.seen).into_owned();
            }
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await;
            match next {
                Ok(Some(Ok(Message::Binary(b)))) => self.seen.extend_from_slice(&b),
                Ok(Some(Ok(_))) => {}
                Ok(_) => panic!(
                    "terminal closed before {needle:?}: {}",
                    String::from_utf8_lossy(&self.seen)
                ),
                Err(_) => panic!(
                    "timed out waiting for {needle:?}: {}",
                    String::from_utf8_lossy(&self.seen)
                ),
            }
        }
    }

    /// Runs a command and returns the output between two markers.
    pub async fn run(&mut self, cmd: &str) -> String {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // The markers are built by the shell, so the echoed command line never matches.
        self.send(&format!("echo B''EGIN{n}; {cmd}; echo E''ND{n}\r"))
            .await;
        let all = self.read_until(&format!("END{n}")).await;
        let start = all.rfind(&format!("BEGIN{n}")).unwrap() + format!("BEGIN{n}").len();
        let end = all.rfind(&format!("END{n}")).unwrap();
        all[start..end].trim().to_owned()
    }
}

/// The path of a file in kiln's `~/.kiln`.
pub fn kiln_file(home: &Path, name: &str) -> PathBuf {
    home.join(".kiln").join(name)
}
