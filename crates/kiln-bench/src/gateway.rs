//! `kiln-bench gateway`: the model gateway against a direct call to the same upstream, in one
//! run. An emulated workspace (kiln-emulator, in this process) serves the answers; the real
//! `kiln gateway` release binary runs as a child with the workspace's token in its
//! environment and probing off, so both sides hit the same `/serving-endpoints/…` paths. Each
//! figure alternates direct and gateway calls, so drift in the machine's load hits both alike.
//!
//! - **Latency per request**: a small non-streamed Chat Completions call, send to last byte.
//! - **Time to first streamed byte**: an Anthropic Messages stream, send to the first body
//!   chunk (the rest is drained, not timed).
//! - **Large streamed answer**: a scripted answer of `--large-mib` MiB as an SSE stream, first
//!   to last byte, as MB/s (the emulator prepares the whole answer before its first event).

use crate::gateway_report::{self, GatewayResults, Side};
use crate::stats::{Summary, median};
use anyhow::{Context as _, anyhow, bail};
use futures_util::StreamExt as _;
use kiln_emulator::serving::ScriptStep;
use kiln_emulator::{Emulator, EmulatorOptions, RunningEmulator};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for the gateway to print its URL.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags of `kiln-bench gateway`.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// The kiln binary (default: `kiln` next to this executable).
    #[arg(long)]
    pub kiln: Option<PathBuf>,
    /// Timed requests per side for latency and for time to first byte.
    #[arg(long, default_value_t = 2000)]
    pub samples: usize,
    /// Untimed requests per side first.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Size of the large streamed answer, in MiB.
    #[arg(long, default_value_t = 32)]
    pub large_mib: usize,
    /// Large answers timed per side.
    #[arg(long, default_value_t = 5)]
    pub large_runs: usize,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Trace the gateway's calls to this OTLP/HTTP URL (its OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
    /// e.g. a port nobody listens on or a collector answering 500, to measure that exporting
    /// adds no latency (docs/observability.md).
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
}

/// Runs the gateway benchmark.
pub fn main(args: GatewayArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kiln-bench gateway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&args)) {
        Ok(results) => {
            if args.json {
                match serde_json::to_string_pretty(&results) {
                    Ok(s) => println!("{s}"),
                    Err(e) => eprintln!("kiln-bench gateway: {e}"),
                }
            } else {
                print!("{}", gateway_report::table(&results));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kiln-bench gateway: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The `kiln gateway` child; killed on drop.
struct GatewayChild {
    child: Child,
    url: String,
    key: String,
    _home: TempDir,
}

impl Drop for GatewayChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "kiln-bench-gateway-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_gateway(
    kiln: &PathBuf,
    emu: &RunningEmulator,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<GatewayChild> {
    let home = TempDir::new()?;
    let log = std::fs::File::create(home.0.join("gateway.log"))?;
    let mut command = Command::new(kiln);
    crate::orphan::server_std(&mut command);
    command
        .args(["gateway", "--listen", "127.0.0.1:0", "--no-probe"])
        .env_clear()
        .env("HOME", &home.0)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("DATABRICKS_HOST", emu.url())
        .env("DATABRICKS_TOKEN", emu.user_token());
    if let Some(url) = otlp_endpoint {
        command.env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", kiln.display()))?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("KILN_GATEWAY_URL=") {
                let _ = tx.send(url.to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(START_TIMEOUT)
        .context("kiln gateway did not print its URL")?;
    let key = std::fs::read_to_string(home.0.join(".kiln/gateway.key"))
        .context("reading the gateway key")?
        .trim()
        .to_owned();
    Ok(GatewayChild {
        child,
        url,
        key,
        _home: home,
    })
}

/// Where one side sends its calls.
struct Target {
    base: String,
    token: String,
}

impl Target {
    fn chat(&self) -> String {
        format!("{}/chat/completions", self.base)
    }
    fn messages(&self) -> String {
        format!("{}/v1/messages", self.base)
    }
}

async fn timed_json(
    client: &reqwest::Client,
    t: &Target,
    body: &Value,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let r = client
        .post(t.chat())
        .bearer_auth(&t.token)
        .json(body)
        .send()
        .await?;
    let status = r.status();
    let bytes = r.bytes().await?;
    let took = start.elapsed();
    if !status.is_success() {
        bail!(
            "{} answered {status}: {}",
            t.chat(),
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(took)
}

/// Time to the first body chunk, and to the last.
async fn timed_stream(
    client: &reqwest::Client,
    t: &Target,
    body: &Value,
) -> anyhow::Result<(Duration, Duration, u64)> {
    let start = Instant::now();
    let r = client
        .post(t.messages())
        .bearer_auth(&t.token)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("{} answered {}", t.messages(), r.status());
    }
    let mut stream = r.bytes_stream();
    let mut first = None;
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if first.is_none() && !chunk.is_empty() {
            first = Some(start.elapsed());
        }
        total += chunk.len() as u64;
    }
    let last = start.elapsed();
    Ok((first.unwrap_or(last), last, total))
}

/// A large answer: words without the letters of "usage", so no event looks like usage.
fn large_text(mib: usize) -> String {
    const WORDS: &[&str] = &[
        "alpha", "bravo", "chirp", "delta", "lorem", "ipsum", "kiln", "fjord",
    ];
    let target = mib << 20;
    let mut s = String::with_capacity(target + 16);
    let mut i = 0usize;
    while s.len() < target {
        s.push_str(WORDS[i % WORDS.len()]);
        s.push(' ');
        i += 1;
    }
    s
}

async fn run(args: &GatewayArgs) -> anyhow::Result<GatewayResults> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kiln = crate::kiln::locate(args.kiln.as_deref())?;
    let emu = Emulator::start(EmulatorOptions::default()).await?;
    emu.serving().set_stream_interval(Duration::ZERO);
    let gw = start_gateway(&kiln, &emu, args.otlp_endpoint.as_deref())?;
    let client = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .build()?;
    let direct_chat = Target {
        base: format!("{}/serving-endpoints", emu.url()),
        token: emu.user_token().to_owned(),
    };
    let gateway_chat = Target {
        base: format!("{}/opencode", gw.url),
        token: gw.key.clone(),
    };
    let direct_msgs = Target {
        base: format!("{}/serving-endpoints/anthropic", emu.url()),
        token: emu.user_token().to_owned(),
    };
    let gateway_msgs = Target {
        base: format!("{}/claude", gw.url),
        token: gw.key.clone(),
    };

    let chat = json!({"model": "databricks-gpt-5", "stream": false, "messages": [{"role": "user", "content": "hi"}]});
    let stream = json!({"model": "databricks-claude-sonnet-4-5", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "say something short"}]});

    eprintln!(
        "kiln-bench gateway: warm-up ({} requests per side)",
        args.warmup
    );
    for _ in 0..args.warmup {
        timed_json(&client, &direct_chat, &chat).await?;
        timed_json(&client, &gateway_chat, &chat).await?;
        timed_stream(&client, &direct_msgs, &stream).await?;
        timed_stream(&client, &gateway_msgs, &stream).await?;
    }

    eprintln!(
        "kiln-bench gateway: latency, {} requests per side",
        args.samples
    );
    let (mut d_lat, mut g_lat) = (Vec::new(), Vec::new());
    for i in 0..args.samples {
        if i % 2 == 0 {
            d_lat.push(timed_json(&client, &direct_chat, &chat).await?);
            g_lat.push(timed_json(&client, &gateway_chat, &chat).await?);
        } else {
            g_lat.push(timed_json(&client, &gateway_chat, &chat).await?);
            d_lat.push(timed_json(&client, &direct_chat, &chat).await?);
        }
    }

    eprintln!(
        "kiln-bench gateway: time to first streamed byte, {} streams per side",
        args.samples
    );
    let (mut d_ttfb, mut g_ttfb) = (Vec::new(), Vec::new());
    for i in 0..args.samples {
        let (d, g) = if i % 2 == 0 {
            let d = timed_stream(&client, &direct_msgs, &stream).await?;
            (d, timed_stream(&client, &gateway_msgs, &stream).await?)
        } else {
            let g = timed_stream(&client, &gateway_msgs, &stream).await?;
            (timed_stream(&client, &direct_msgs, &stream).await?, g)
        };
        d_ttfb.push(d.0);
        g_ttfb.push(g.0);
    }

    eprintln!(
        "kiln-bench gateway: {} MiB streamed answers, {} per side",
        args.large_mib, args.large_runs
    );
    let text = large_text(args.large_mib);
    let (mut d_large, mut g_large) = (Vec::new(), Vec::new());
    let mut bytes = (0u64, 0u64);
    for _ in 0..args.large_runs {
        emu.serving().push_script(ScriptStep::Text(text.clone()));
        let d = timed_stream(&client, &direct_msgs, &stream).await?;
        emu.serving().push_script(ScriptStep::Text(text.clone()));
        let g = timed_stream(&client, &gateway_msgs, &stream).await?;
        if d.2 != g.2 {
            bail!(
                "the large answer differs in size: direct {} bytes, gateway {} bytes",
                d.2,
                g.2
            );
        }
        bytes = (d.2, g.2);
        // From the first byte to the last: the upstream builds the whole answer before its
        // first event, which is not the gateway's doing.
        d_large.push(d.1.saturating_sub(d.0));
        g_large.push(g.1.saturating_sub(g.0));
    }
    let rate = |b: u64, d: Option<Duration>| d.map(|d| b as f64 / d.as_secs_f64() / 1e6);

    Ok(GatewayResults {
        samples: args.samples,
        latency: Side {
            direct: Summary::of(&d_lat),
            gateway: Summary::of(&g_lat),
        },
        first_byte: Side {
            direct: Summary::of(&d_ttfb),
            gateway: Summary::of(&g_ttfb),
        },
        large_bytes: bytes.0,
        large_direct_mb_s: rate(bytes.0, median(&d_large)),
        large_gateway_mb_s: rate(bytes.1, median(&g_large)),
        load_average: std::fs::read_to_string("/proc/loadavg")
            .ok()
            .map(|s| s.trim().to_owned()),
    })
}
