// Browser test of a server crash: kiln is SIGKILLed while a page is attached, then started again
// on the same port with the same key. The page must say it is reconnecting, reconnect, notice
// that its session died with the old server, say so, and start a working new shell on request
// (in one tab, or in all of them with one click). At every profile (support/profiles.mjs); each
// kiln lives through one restart, so every profile gets kilns of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  openPage,
  startKiln,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
} from './support/kiln.mjs';
import { ALL, eachProfile, profileShot } from './support/profiles.mjs';

const browser = useBrowser();

/** Starts kiln on `port` again; the old listener may take a moment to be released. */
async function restartOn(port, home) {
  let lastError;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      return await startKiln({ port, home });
    } catch (e) {
      lastError = e; // kiln exited at once (address still in use): its exit is the event we waited for
    }
  }
  throw lastError;
}

test('after the server is killed and restarted the client reconnects and a new shell works', async (t) => {
  await eachProfile(t, ALL, async (profile) => {
    const first = await startKiln();
    let second;
    let ui;
    try {
      ui = await openPage(browser(), first.url, profile.page);
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo first-life');
      await waitForLine(page, 'first-life');
      const oldId = (await page.evaluate(() => window.__kiln.active())).id;

      await first.kill();
      // The state cycles between waiting ("reconnecting in N s", with a retry button) and trying.
      await waitFor(page, 'the reconnect countdown', () => {
        const status = document.getElementById('status');
        return /reconnecting in \d+ s/.test(status.textContent) && status.querySelector('button')?.textContent === 'Retry now';
      });
      await profileShot(page, 'restart-reconnecting', profile);

      second = await restartOn(first.port, first.home);
      // The server is back but the session died with the old one: the page says so.
      await waitForState(page, 'gone');
      const banner = page.locator('.panel:not(.inactive) .banner');
      await banner.getByText('This shell no longer exists').waitFor();
      await profileShot(page, 'restart-gone', profile);
      await banner.getByRole('button', { name: 'New shell' }).click();

      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo second-life');
      await waitForLine(page, 'second-life');
      const newId = (await page.evaluate(() => window.__kiln.active())).id;
      assert.notEqual(newId, oldId);
      const sessions = (await second.api('/api/sessions')).body.sessions;
      assert.deepEqual(
        sessions.map((s) => s.id),
        [newId],
      );
      assert.deepEqual(await ui.cspViolations(), []);
      assert.deepEqual(ui.pageErrors, []);
    } finally {
      await ui?.close();
      await second?.kill();
      await first.stop();
    }
  });
});

test('a page loaded after a restart starts a fresh shell by itself', async (t) => {
  await eachProfile(t, ALL, async (profile) => {
    const first = await startKiln();
    let second;
    let ui;
    try {
      ui = await openPage(browser(), first.url, profile.page);
      await waitForState(ui.page, 'connected');
      await first.kill();
      await waitForState(ui.page, 'reconnecting');
      second = await restartOn(first.port, first.home);
      await ui.page.reload();
      await waitForState(ui.page, 'connected');
      await waitForPrompt(ui.page);
      await waitFor(ui.page, 'exactly one tab', () => window.__kiln.tabs().length === 1);
      assert.equal((await second.api('/api/sessions')).body.sessions.length, 1);
      await profileShot(ui.page, 'restart-reloaded', profile);
    } finally {
      await ui?.close();
      await second?.kill();
      await first.stop();
    }
  });
});

test('after a restart one action gives every tab a new shell, names kept', async (t) => {
  await eachProfile(t, ALL, async (profile) => {
    const first = await startKiln();
    let second;
    let ui;
    try {
      ui = await openPage(browser(), first.url, profile.page);
      const { page } = ui;
      await waitForState(page, 'connected');
      // One at a time: a click while a shell is still starting adds nothing (no piles of tabs).
      await page.getByRole('button', { name: 'New terminal' }).click();
      await waitFor(page, 'two tabs connected', () => window.__kiln.tabs().filter((t) => t.state === 'connected').length === 2);
      await page.getByRole('button', { name: 'New terminal' }).click();
      await waitFor(page, 'three tabs connected', () => window.__kiln.tabs().filter((t) => t.state === 'connected').length === 3);
      const before = await page.evaluate(() => window.__kiln.tabs());

      await first.kill();
      await waitForState(page, 'reconnecting');
      // Typing now is kept for later, and the page says so.
      await page.locator('.panel:not(.inactive) .xterm').click();
      await page.keyboard.type('x');
      await waitFor(page, 'the queued-input notice', () => /kept and sent when the connection is back/.test(document.getElementById('notice').textContent));

      second = await restartOn(first.port, first.home);
      await waitFor(page, 'every tab gone', () => window.__kiln.tabs().every((t) => t.state === 'gone'));
      // The key typed meanwhile had nowhere to go: the promise to send it is taken back.
      await waitFor(page, 'the not-sent notice', () => /^What you typed while disconnected was not sent/.test(document.getElementById('notice').textContent));
      // The tabs grew a "gone" mark: the active one is still wholly in view in the strip.
      await waitFor(page, 'the active tab wholly in view', () => {
        const strip = document.getElementById('tabs').getBoundingClientRect();
        const tab = document.querySelector('#tabs [role="tab"][aria-selected="true"]').closest('.tab-item').getBoundingClientRect();
        return tab.left >= strip.left - 0.5 && tab.right <= strip.right + 0.5;
      });
      const all = page.locator('.panel:not(.inactive) .banner').getByRole('button', { name: 'New shells in all 3 tabs' });
      await profileShot(page, 'restart-all-gone', profile);
      await all.click();
      await waitFor(page, 'three tabs connected again', () => window.__kiln.tabs().filter((t) => t.state === 'connected').length === 3);
      const after = await page.evaluate(() => window.__kiln.tabs());
      assert.deepEqual(
        after.map((t) => t.label),
        before.map((t) => t.label),
      );
      const sessions = (await second.api('/api/sessions')).body.sessions;
      assert.deepEqual(new Set(sessions.map((s) => s.id)), new Set(after.map((t) => t.id)));
      for (const t of after) assert.ok(!before.some((b) => b.id === t.id));
      await waitForPrompt(page);
      await typeLine(page, 'echo restored');
      await waitForLine(page, 'restored');
    } finally {
      await ui?.close();
      await second?.kill();
      await first.stop();
    }
  });
});
