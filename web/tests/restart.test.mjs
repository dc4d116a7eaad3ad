// Browser test of a server crash: kiln is SIGKILLed while a page is attached, then started again
// on the same port with the same key. The page must say it is reconnecting, reconnect, notice
// that its session died with the old server, say so, and start a working new shell on request.
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

test('after the server is killed and restarted the client reconnects and a new shell works', async () => {
  const first = await startKiln();
  let second;
  let ui;
  try {
    ui = await openPage(browser(), first.url);
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

    second = await restartOn(first.port, first.home);
    // The server is back but the session died with the old one: the page says so.
    await waitForState(page, 'gone');
    const banner = page.locator('.panel:not(.inactive) .banner');
    await banner.getByText('This shell no longer exists').waitFor();
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

test('a page loaded after a restart starts a fresh shell by itself', async () => {
  const first = await startKiln();
  let second;
  let ui;
  try {
    ui = await openPage(browser(), first.url);
    await waitForState(ui.page, 'connected');
    await first.kill();
    await waitForState(ui.page, 'reconnecting');
    second = await restartOn(first.port, first.home);
    await ui.page.reload();
    await waitForState(ui.page, 'connected');
    await waitForPrompt(ui.page);
    await waitFor(ui.page, 'exactly one tab', () => window.__kiln.tabs().length === 1);
    assert.equal((await second.api('/api/sessions')).body.sessions.length, 1);
  } finally {
    await ui?.close();
    await second?.kill();
    await first.stop();
  }
});
