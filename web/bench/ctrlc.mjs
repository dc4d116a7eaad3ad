// Browser benchmark (not a test): Ctrl-C during a flood (`yes`) in headless Chromium through a real
// kiln: the time from the key to the prompt, how much the terminal had not drawn yet when the key
// was pressed, and how many output bytes still arrived after it (what the server had read ahead).
// One JSON line per run, then the median; timings belong in docs/performance.md.
//
//   node bench/ctrlc.mjs [--runs 5]
//
// KILN_BIN picks the kiln binary (default target/debug/kiln; use a release build for figures) and
// CHROMIUM_BIN the browser, as for the browser tests.
import { launchBrowser, startKiln, typeLine, waitFor, waitForLine, waitForPrompt, waitForState } from '../tests/support/kiln.mjs';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error('--runs takes a whole number of at least 1');
  process.exit(2);
}

const browser = await launchBrowser();
const kiln = await startKiln();
const context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
try {
  const page = await context.newPage();
  // Count the output bytes every WebSocket of the page receives.
  await page.addInitScript(() => {
    window.__rxBytes = 0;
    const WS = window.WebSocket;
    window.WebSocket = class extends WS {
      constructor(...args) {
        super(...args);
        this.addEventListener('message', (e) => {
          if (typeof e.data !== 'string') window.__rxBytes += e.data.byteLength ?? e.data.size ?? 0;
        });
      }
    };
  });
  await page.goto(kiln.url);
  await waitForState(page, 'connected');
  await waitForPrompt(page);
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    await typeLine(page, 'yes');
    await waitForLine(page, 'y');
    await waitFor(page, 'the page to pause the flood', () => (window.__kiln.active()?.flow?.pauses ?? 0) > 0);
    await new Promise((r) => setTimeout(r, 500));
    const before = await page.evaluate(() => ({ t: performance.now(), flow: window.__kiln.active().flow, rx: window.__rxBytes }));
    await page.keyboard.press('Control+C');
    await waitForPrompt(page);
    const after = await page.evaluate(() => ({ t: performance.now(), rx: window.__rxBytes }));
    const ms = Math.round(after.t - before.t);
    times.push(ms);
    console.log(JSON.stringify({ run: run + 1, ms, undrawn_at_key: before.flow.unwritten, bytes_after_key: after.rx - before.rx }));
    await typeLine(page, 'clear');
    await waitFor(page, 'everything drawn', () => window.__kiln.active()?.flow?.unwritten === 0);
  }
  times.sort((a, b) => a - b);
  console.log(`Ctrl-C to prompt: median ${times[Math.floor(times.length / 2)]} ms of ${RUNS} runs (${times.join(', ')} ms)`);
} finally {
  await context.close();
  await kiln.stop();
  await browser.close();
}
