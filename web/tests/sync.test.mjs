// Browser test of the workspace sync indicator and panel, against the real `kiln serve` and the
// kiln-emulator binary: a project syncs (`sync ✓`); during a workspace outage a commit fails and
// the status bar and panel say so with the reason; after the outage, Retry syncs it. The failure
// is shown at every profile (support/profiles.mjs; on a phone through the status area's summary
// button).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { WAIT_MS, openPage, startEmulator, startKiln, useBrowser } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, openStatusPart, profileShot } from './support/profiles.mjs';

const browser = useBrowser();

function git(home, cwd, ...args) {
  return execFileSync('git', args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Ada',
      GIT_AUTHOR_EMAIL: 'ada@example.com',
      GIT_COMMITTER_NAME: 'Ada',
      GIT_COMMITTER_EMAIL: 'ada@example.com',
    },
    encoding: 'utf8',
  });
}

function waitSync(page, what, fn, arg) {
  return page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 }).catch(async (e) => {
    const view = await page.evaluate(() => ({ indicator: window.__kilnSync?.indicator(), snapshot: window.__kilnSync?.snapshot() }));
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(view)} (${e.message})`);
  });
}

/** The panel's item for `demo` shows it failed and why (retries go on during an outage, and the
 * item shows `syncing` while one runs). Runs in the page. */
function failedItem() {
  const item = document.querySelector('#sync-dialog .setup-item[data-project="demo"]');
  return item?.dataset.state === 'failed' && /failed: .*unavailable/.test(item.querySelector('.sync-line')?.textContent ?? '');
}

describe('workspace sync', () => {
  test('synced, failed during an outage with the reason, retried', { timeout: 180_000 }, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-web-sync-'));
    const home = join(dir, 'home');
    const repo = join(home, 'projects', 'demo');
    await mkdir(repo, { recursive: true });
    git(home, repo, 'init', '-q', '-b', 'main');
    await writeFile(join(repo, 'README.md'), 'hello\n');
    git(home, repo, 'add', '-A');
    git(home, repo, 'commit', '-q', '-m', 'first');

    const emu = await startEmulator();
    const kiln = await startKiln({
      home,
      env: { DATABRICKS_HOST: emu.host, DATABRICKS_TOKEN: emu.token, KILN_SYNC_REQUEST_BUDGET_SECONDS: '2' },
    });
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      const { page } = ui;
      await waitSync(page, 'the first sync', () => window.__kilnSync?.indicator() === 'sync ✓');

      await emu.admin('POST', '/faults', { path: '/api/2.0/workspace*', kind: 'outage', start_in_secs: 0, duration_secs: 120 });
      await writeFile(join(repo, 'README.md'), 'hello again\n');
      git(home, repo, 'commit', '-q', '-am', 'during the outage');
      await waitSync(page, 'the failure in the status bar', () => window.__kilnSync?.indicator() === 'sync: 1 failed');
      await eachProfile(t, ALL, async (profile) => {
        const view = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
        try {
          await waitSync(view.page, 'the failure in the status bar', () => window.__kilnSync?.indicator() === 'sync: 1 failed');
          // The notice says where to look: the chip, or on a phone the button the chips fold into.
          const where = profile.phone ? 'open kiln’s state (the ● button in the status bar)' : 'open “sync” in the status bar';
          await waitSync(view.page, 'the notice', (w) => document.getElementById('notice').textContent === `demo: not synced — ${w}`, where);
          await openStatusPart(view.page, profile, 'sync-indicator');
          const item = view.page.locator('#sync-dialog .setup-item[data-project="demo"]');
          await item.waitFor({ state: 'visible', timeout: WAIT_MS });
          await waitSync(view.page, 'the failed item with its reason', failedItem);
          const box = await view.page.locator('#sync-dialog').boundingBox();
          assert.ok(onScreen(box, profile), `the panel fits the screen: ${JSON.stringify(box)}`);
          assert.ok(await view.page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is no wider than the screen');
          await profileShot(view.page, 'sync-failed', profile);
          assert.deepEqual(view.pageErrors, []);
        } finally {
          await view.close();
        }
      });
      await page.locator('#sync-indicator').click();
      const item = page.locator('#sync-dialog .setup-item[data-project="demo"]');
      await item.waitFor({ state: 'visible', timeout: WAIT_MS });
      await waitSync(page, 'the failed item with its reason', failedItem);

      await emu.admin('POST', '/clock/advance', { seconds: 121 });
      await item.locator('.sync-retry').click();
      await waitSync(page, 'synced after the outage', () => window.__kilnSync?.indicator() === 'sync ✓');
      const head = git(home, repo, 'rev-parse', 'HEAD').trim();
      await waitSync(page, 'the new commit in the panel', (h) => document.querySelector('#sync-dialog .setup-item[data-project="demo"] .sync-line')?.textContent?.includes(h), head.slice(0, 12));

      assert.deepEqual(await ui.cspViolations(), []);
      assert.deepEqual(ui.pageErrors, []);
    } finally {
      await ui?.close();
      await kiln.stop();
      await emu.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    }
  });
});
