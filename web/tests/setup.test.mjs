// Browser test of the agents setup panel, against the real `kiln serve` (KILN_AGENTS_SETUP=1) and
// the kiln-emulator binary. npm is a stand-in script on PATH that lays packages out like npm (no
// registry needed) and refuses the package named in a file while it exists, so one agent fails:
// the status bar says so, the panel shows each agent's steps with durations and its log, and
// Retry sets the failed one up once the "registry" has it. The failure is shown at every profile
// (support/profiles.mjs; on a phone through the status area's summary button).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WAIT_MS, openPage, startEmulator, startKiln, useBrowser } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, openStatusPart, profileShot } from './support/profiles.mjs';
import { loadSource } from './support/source.mjs';

/** The stand-in npm. Its log and "registry refuses" file are written into the script: kiln gives
 *  the installers an allow-listed environment, so variables of the test's own never reach it. */
const fakeNpm = (logFile, failFile) => `#!/bin/sh
FAKE_LOG='${logFile}'
FAKE_NPM_FAIL_FILE='${failFile}'
echo "npm $*" >> "$FAKE_LOG"
prefix=""; spec=""
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2;;
    -*) shift;;
    install) shift;;
    *) spec="$1"; shift;;
  esac
done
pkg="\${spec%@*}"; ver="\${spec##*@}"
if [ -f "$FAKE_NPM_FAIL_FILE" ] && [ "$pkg" = "$(cat "$FAKE_NPM_FAIL_FILE")" ]; then
  echo "npm error code E404" >&2
  echo "npm error 404 Not Found - GET https://registry.example/$pkg" >&2
  exit 1
fi
cmd="\${pkg##*/}"
mkdir -p "$prefix/lib/node_modules/$pkg" "$prefix/bin"
printf '{"name":"%s","version":"%s"}\\n' "$pkg" "$ver" > "$prefix/lib/node_modules/$pkg/package.json"
printf '#!/bin/sh\\necho %s\\n' "$ver" > "$prefix/lib/node_modules/$pkg/cli.sh"
chmod +x "$prefix/lib/node_modules/$pkg/cli.sh"
ln -sf "../lib/node_modules/$pkg/cli.sh" "$prefix/bin/$cmd"
echo "added 1 package in 0.1s"
`;

/** Waits until `fn(arg)` is truthy in the page; shows the setup view on failure. */
function waitSetup(page, what, fn, arg) {
  return page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 }).catch(async (e) => {
    const view = await page.evaluate(() => ({ indicator: window.__kilnSetup?.indicator(), snapshot: window.__kilnSetup?.snapshot() }));
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(view)} (${e.message})`);
  });
}

const browser = useBrowser();

describe('agents setup', () => {
  test('progress in the status bar and panel, a failed agent, retry', { timeout: 180_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-web-setup-'));
    const home = join(dir, 'home');
    const tools = join(dir, 'tools');
    const failFile = join(dir, 'fail');
    await Promise.all([mkdir(home), mkdir(tools)]);
    await writeFile(join(tools, 'npm'), fakeNpm(join(dir, 'calls.log'), failFile));
    await chmod(join(tools, 'npm'), 0o755);
    await writeFile(failFile, '@fake/codex');
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, JSON.stringify({ claude: { package: '@fake/claude' }, codex: { package: '@fake/codex' } }));

    const emu = await startEmulator();
    const kiln = await startKiln({
      home,
      env: {
        PATH: `${tools}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        RUST_LOG: 'warn',
        DATABRICKS_HOST: emu.host,
        DATABRICKS_TOKEN: emu.token,
        KILN_AGENTS_SETUP: '1',
        KILN_AGENTS: 'claude,codex,git',
        KILN_AGENTS_MANIFEST: manifest,
      },
    });
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      const { page } = ui;

      // The run finishes with codex failed: the indicator says so.
      await waitSetup(page, 'the failure in the status bar', () => window.__kilnSetup?.indicator() === 'agents: 1 failed');
      await eachProfile(t, ALL, async (profile) => {
        const view = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
        try {
          await waitSetup(view.page, 'the failure in the status bar', () => window.__kilnSetup?.indicator() === 'agents: 1 failed');
          // The notice says where to look: the chip, or on a phone the button the chips fold into.
          const where = profile.phone ? 'open kiln’s state (the ● button in the status bar)' : 'open “agents” in the status bar';
          await waitSetup(view.page, 'the notice', (w) => document.getElementById('notice').textContent === `Codex could not be set up: ${w}`, where);
          await openStatusPart(view.page, profile, 'setup-indicator');
          const codex = view.page.locator('.setup-item[data-agent="codex"]');
          await codex.waitFor({ state: 'visible', timeout: WAIT_MS });
          assert.equal(await codex.getAttribute('data-status'), 'failed');
          assert.match(await codex.locator('.setup-steps li').first().innerText(), /install ✗ .*E404/);
          const box = await view.page.locator('#setup-dialog').boundingBox();
          assert.ok(onScreen(box, profile), `the panel fits the screen: ${JSON.stringify(box)}`);
          assert.ok(await view.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is no wider than the screen');
          await profileShot(view.page, 'setup-failed', profile);
          assert.deepEqual(view.pageErrors, []);
        } finally {
          await view.close();
        }
      });
      await page.locator('#setup-indicator').click();
      const dialog = page.locator('#setup-dialog');
      await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });

      const claude = page.locator('.setup-item[data-agent="claude"]');
      assert.equal(await claude.getAttribute('data-status'), 'ok');
      const claudeSteps = await claude.locator('.setup-steps li').allInnerTexts();
      assert.equal(claudeSteps.length, 2);
      assert.match(claudeSteps[0], /^install ✓ \d+(\.\d)? (ms|s) — installed 2\.1\.197$/);
      assert.match(claudeSteps[1], /^configure ✓ \d+(\.\d)? (ms|s) — \d file\(s\) written$/);
      assert.equal(await page.locator('#setup-summary').innerText().then((t) => t.includes('serving endpoints')), true);

      const codex = page.locator('.setup-item[data-agent="codex"]');
      assert.equal(await codex.getAttribute('data-status'), 'failed');
      assert.match((await codex.locator('.setup-steps li').first().innerText()), /install ✗ .*E404/);
      await codex.locator('summary').click();
      assert.match(await codex.locator('.setup-log pre').innerText(), /404 Not Found/);

      // The "registry" has it now: Retry sets codex up.
      await unlink(failFile);
      await codex.locator('.setup-retry').click();
      await waitSetup(page, 'every agent set up', () => window.__kilnSetup?.indicator() === 'agents ✓');
      await waitSetup(page, 'codex ok in the panel', () => document.querySelector('.setup-item[data-agent="codex"]')?.getAttribute('data-status') === 'ok');
      assert.match(await readFile(join(home, '.codex', 'config.toml'), 'utf8'), /model_provider = "databricks"/);

      assert.deepEqual(await ui.cspViolations(), []);
      assert.deepEqual(ui.pageErrors, []);
    } finally {
      await ui?.close();
      await kiln.stop();
      await emu.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    }
  });

  test('no indicator when setup is off', { timeout: 60_000 }, async () => {
    const kiln = await startKiln();
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      await ui.page.waitForFunction(() => window.__kilnSetup?.off() === true, null, { timeout: WAIT_MS, polling: 100 });
      assert.equal(await ui.page.locator('#setup-indicator').isHidden(), true);
    } finally {
      await ui?.close();
      await kiln.stop();
    }
  });
});

describe('setup panel texts', () => {
  test('durations, summaries and step lines', async () => {
    const m = await loadSource('setup-api.ts');
    assert.equal(m.formatDuration(850), '850 ms');
    assert.equal(m.formatDuration(4200), '4.2 s');
    assert.equal(m.formatDuration(125_000), '2 min 5 s');
    assert.equal(m.formatDuration(null), '');
    const item = (name, status) => ({ name, display: name, status, version: null, steps: [], log_tail: [] });
    const snap = (running, ...items) => ({ running, runs: 1, models_source: null, notes: [], items });
    assert.equal(m.summaryText(snap(true, item('a', 'ok'), item('b', 'running'))), 'agents 1/2 …');
    assert.equal(m.summaryText(snap(false, item('a', 'ok'), item('b', 'ok'))), 'agents ✓');
    assert.equal(m.summaryText(snap(false, item('a', 'failed'), item('b', 'ok'))), 'agents: 1 failed');
    assert.equal(
      m.stepLine({ name: 'install', status: 'failed', started_ms: 1, duration_ms: 1500, message: 'npm: 404' }),
      'install ✗ 1.5 s — npm: 404',
    );
    assert.equal(m.stepLine({ name: 'configure', status: 'pending', started_ms: null, duration_ms: null, message: null }), 'configure ·');
  });
});
