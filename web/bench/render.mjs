// Browser benchmark (not a test): a large output rendered in headless Chromium through a real
// kiln, measuring the time until its last byte is drawn and how responsive the page's main thread
// stays meanwhile. Prints a table (or JSON with --json); timings belong in docs/performance.md.
//
//   node bench/render.mjs [--mb 50] [--runs 3] [--renderer dom|webgl|auto] [--json]
//
// KILN_BIN picks the kiln binary (default target/debug/kiln; use a release build for figures),
// KILN_UI_DIR a UI built with `node build.mjs --outdir DIR` instead of the embedded one, and
// CHROMIUM_BIN the browser, as for the browser tests.
//
// Each run opens a fresh page and session, types a command that prints `--mb` MB of 80-column
// text lines then a marker, and times from the Enter key to the marker being on the screen. While
// it runs, the page queues a task every 50 ms and records how long each waited to run (the delay
// a keystroke would see), and counts long tasks (over 50 ms, from the Long Tasks API).
import { launchBrowser, openPage, startKiln, typeLine, waitForPrompt, waitForState } from '../tests/support/kiln.mjs';

const args = process.argv.slice(2);
const value = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const mb = Number(value('--mb', '50'));
const runs = Number(value('--runs', '3'));
const renderer = value('--renderer', 'auto');
const json = args.includes('--json');
if (!Number.isFinite(mb) || mb <= 0 || !Number.isInteger(runs) || runs < 1) {
  console.error('usage: node bench/render.mjs [--mb N] [--runs N] [--renderer dom|webgl|auto] [--json]');
  process.exit(2);
}
const bytes = Math.round(mb * 1e6);
/** Longest a single run may take before it counts as failed. */
const RUN_LIMIT_MS = 600_000;

/** Installed in the page before the command is typed: probes the main thread every 50 ms. */
function installProbe() {
  const probe = { delays: [], longTasks: 0, longTaskMs: 0, stop: false };
  window.__probe = probe;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        probe.longTasks += 1;
        probe.longTaskMs += e.duration;
      }
    }).observe({ type: 'longtask', buffered: false });
  } catch {
    probe.longTasks = -1;
  }
  const tick = () => {
    if (probe.stop) return;
    const queued = performance.now();
    setTimeout(() => {
      probe.delays.push(performance.now() - queued);
      setTimeout(tick, 50);
    }, 0);
  };
  tick();
}

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function median(values) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

async function once(browser) {
  const kiln = await startKiln();
  let ui;
  try {
    const url = renderer === 'auto' ? kiln.url : await kiln.signInUrl(`?renderer=${renderer}`);
    ui = await openPage(browser, url);
    const { page } = ui;
    await waitForState(page, 'connected');
    await waitForPrompt(page);
    await page.evaluate(installProbe);
    // 80-byte lines (79 characters and a newline); the marker is split in the command line so
    // only the output can contain it whole.
    const line = 'kiln render benchmark: the quick brown fox jumps over the lazy dog 0123456789'.padEnd(79, '.');
    await page.evaluate(() => {
      window.__started = performance.now();
    });
    await typeLine(page, `yes '${line}' | head -c ${bytes}; echo KB''END`);
    await page.waitForFunction(
      () => (window.__kiln.text() ?? '').split('\n').some((l) => l === 'KBEND'),
      undefined,
      { timeout: RUN_LIMIT_MS, polling: 250 },
    );
    const result = await page.evaluate(() => {
      const p = window.__probe;
      p.stop = true;
      return {
        ms: performance.now() - window.__started,
        delays: p.delays,
        longTasks: p.longTasks,
        longTaskMs: p.longTaskMs,
        flow: window.__kiln.active()?.flow ?? null,
        renderer: window.__kiln.active()?.renderer,
      };
    });
    const sorted = [...result.delays].sort((a, b) => a - b);
    return {
      seconds: result.ms / 1e3,
      mbPerS: bytes / 1e6 / (result.ms / 1e3),
      probes: sorted.length,
      delayP50Ms: percentile(sorted, 0.5),
      delayP99Ms: percentile(sorted, 0.99),
      delayMaxMs: sorted.at(-1) ?? NaN,
      longTasks: result.longTasks,
      longTaskMs: result.longTaskMs,
      pauses: result.flow?.pauses ?? null,
      renderer: result.renderer,
    };
  } finally {
    await ui?.close();
    await kiln.stop();
  }
}

const browser = await launchBrowser();
const all = [];
try {
  for (let i = 0; i < runs; i++) {
    console.error(`render bench: run ${i + 1}/${runs}, ${mb} MB`);
    all.push(await once(browser));
  }
} finally {
  await browser.close();
}
const summary = {
  mb,
  runs,
  renderer: all[0]?.renderer,
  kiln: process.env.KILN_BIN ?? 'target/debug/kiln',
  ui: process.env.KILN_UI_DIR ?? 'embedded',
  medians: {
    seconds: median(all.map((r) => r.seconds)),
    mbPerS: median(all.map((r) => r.mbPerS)),
    delayP50Ms: median(all.map((r) => r.delayP50Ms)),
    delayP99Ms: median(all.map((r) => r.delayP99Ms)),
    delayMaxMs: median(all.map((r) => r.delayMaxMs)),
    longTasks: median(all.map((r) => r.longTasks)),
    longTaskMs: median(all.map((r) => r.longTaskMs)),
  },
  runsDetail: all,
};
if (json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  const m = summary.medians;
  console.log(`${mb} MB rendered in Chromium through kiln (${summary.renderer} renderer), medians of ${runs}:`);
  console.log(`  time to last byte drawn : ${m.seconds.toFixed(2)} s (${m.mbPerS.toFixed(1)} MB/s)`);
  console.log(`  queued task delay       : p50 ${m.delayP50Ms.toFixed(1)} ms, p99 ${m.delayP99Ms.toFixed(1)} ms, max ${m.delayMaxMs.toFixed(1)} ms`);
  console.log(`  long tasks (> 50 ms)    : ${m.longTasks} (${m.longTaskMs.toFixed(0)} ms in all)`);
  console.log(`  pauses asked per run    : ${all.map((r) => r.pauses ?? '-').join(', ')}`);
}
