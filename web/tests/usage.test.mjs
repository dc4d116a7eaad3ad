// Browser test of the model usage indicator and panel, against the real `kiln serve` (with its
// gateway) and the kiln-emulator binary: after a model call through the gateway the status bar
// shows today's tokens and the tracing mark; the panel lists the agent and model for today and
// this session, and says tracing is failing with the dropped spans (the exporter points at a
// port nobody listens on, and the model call works all the same). The panel is then opened at
// every profile (support/profiles.mjs; on a phone through the status area's summary button).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WAIT_MS, openPage, startEmulator, startKiln, useBrowser } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, openStatusPart, profileShot } from './support/profiles.mjs';

const browser = useBrowser();

/** A loopback port nobody listens on (bound, then released). */
async function deadPort() {
  const server = createServer();
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

function waitUsage(page, what, fn, arg) {
  return page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 }).catch(async (e) => {
    const view = await page.evaluate(() => ({ indicator: window.__kilnUsage?.indicator(), snapshot: window.__kilnUsage?.snapshot() }));
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(view)} (${e.message})`);
  });
}

describe('model usage', () => {
  test('tokens per agent and model, tracing failing with dropped spans', { timeout: 180_000 }, async (t) => {
    const emu = await startEmulator();
    const port = await deadPort();
    const kiln = await startKiln({
      env: { DATABRICKS_HOST: emu.host, DATABRICKS_TOKEN: emu.token, KILN_SYNC: 'false', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces` },
    });
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      const { page } = ui;
      await waitUsage(page, 'the usage indicator', () => /^tokens 0 today · trace …$/.test(window.__kilnUsage?.indicator() ?? ''));

      // A model call through the gateway, as OpenCode makes it.
      const gw = JSON.parse(await readFile(join(kiln.home, '.kiln', 'gateway.json'), 'utf8'));
      const key = (await readFile(join(kiln.home, '.kiln', 'gateway.key'), 'utf8')).trim();
      const res = await fetch(`${gw.url}/opencode/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'databricks-gpt-5', messages: [{ role: 'user', content: 'hello' }] }),
      });
      assert.equal(res.status, 200);
      await res.json();

      await waitUsage(page, 'tokens and the failing trace mark', () => /^tokens [1-9][0-9.k]* today · trace ✗$/.test(window.__kilnUsage?.indicator() ?? ''));
      assert.deepEqual(await ui.cspViolations(), []);
      assert.deepEqual(ui.pageErrors, []);

      await eachProfile(t, ALL, async (profile) => {
        const view = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
        try {
          const { page } = view;
          await waitUsage(page, 'tokens and the failing trace mark', () => /^tokens [1-9][0-9.k]* today · trace ✗$/.test(window.__kilnUsage?.indicator() ?? ''));
          await openStatusPart(page, profile, 'usage-indicator');
          const today = page.locator('#usage-dialog #usage-today tr[data-agent="opencode"][data-model="databricks-gpt-5"]');
          await today.waitFor({ state: 'visible', timeout: WAIT_MS });
          assert.match(await today.innerText(), /opencode\s+databricks-gpt-5\s+1\s+0\s+\d+/);
          await page.locator('#usage-dialog #usage-session tr[data-agent="opencode"]').waitFor({ state: 'visible', timeout: WAIT_MS });
          const tracing = page.locator('#usage-dialog #usage-tracing');
          assert.equal(await tracing.getAttribute('data-state'), 'failing');
          assert.match(await tracing.innerText(), /0 spans sent, 1 dropped/);
          const box = await page.locator('#usage-dialog').boundingBox();
          assert.ok(onScreen(box, profile), `the panel fits the screen: ${JSON.stringify(box)}`);
          assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is no wider than the screen');
          await profileShot(page, 'usage-panel', profile);
          assert.deepEqual(view.pageErrors, []);
        } finally {
          await view.close();
        }
      });
    } finally {
      await ui?.close();
      await kiln.stop();
      await emu.stop();
    }
  });
});
