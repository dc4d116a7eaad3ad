// Browser tests of the terminal UI against a real kiln: echo, reattach after reload, tabs,
// exit display, resume after a dropped connection without loss or repetition, the long-poll
// transport, and no CSP violation with either renderer; finding text, at every profile.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  openPage,
  startKiln,
  toolButton,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
  withQuery,
} from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** Runs `body` with a fresh kiln and a page on its printed URL, with `query` (e.g.
 *  "renderer=dom") added; stops both however the test ends. */
async function withKiln(query, body) {
  const kiln = await startKiln();
  let ui;
  try {
    // Switches go in the query, before the fragment with the one-time sign-in code.
    ui = await openPage(browser(), query ? withQuery(kiln.url, query) : kiln.url);
    await body(kiln, ui);
  } finally {
    await ui?.close();
    await kiln.stop();
  }
}

describe('terminal', () => {
  test('the printed URL opens a shell; echo hello shows hello; no CSP violation', async () => {
    await withKiln('', async (kiln, { page, cspViolations, consoleErrors, pageErrors }) => {
      // The one-time code was traded for the key and left the address.
      assert.equal(new URL(page.url()).hash, '');
      assert.equal(new URL(page.url()).search, '');
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo hello');
      await waitForLine(page, 'hello');
      const sessions = (await kiln.api('/api/sessions')).body.sessions;
      assert.equal(sessions.length, 1);
      assert.equal((await page.evaluate(() => window.__kiln.active())).id, sessions[0].id);
      // Colours through the renderer (xterm styles its rows at run time).
      await typeLine(page, 'printf "\\e[38;2;250;120;0mtrue\\e[0mcolour\\n"');
      await waitForLine(page, 'truecolour');
      assert.match(await page.locator('#status').innerText(), /connected/);
      assert.deepEqual(await cspViolations(), []);
      assert.deepEqual(pageErrors, []);
      assert.deepEqual(consoleErrors, []);
      // The listener does see violations: a <style> without the page's nonce is one.
      await page.evaluate(() => {
        const s = document.createElementNS('http://www.w3.org/1999/xhtml', 'style');
        s.textContent = 'body { color: red }';
        document.head.append(s);
      });
      await waitFor(page, 'the deliberate CSP violation', () => window.__cspViolations.length > 0);
    });
  });

  test('the DOM renderer works under the CSP too', async () => {
    await withKiln('renderer=dom', async (_kiln, { page, cspViolations, pageErrors }) => {
      await waitForState(page, 'connected');
      assert.equal((await page.evaluate(() => window.__kiln.active())).renderer, 'dom');
      await waitForPrompt(page);
      await typeLine(page, 'printf "\\e[38;2;250;120;0mdom\\e[0m-\\e[48;5;22mrenderer\\e[0m\\n"');
      await waitForLine(page, 'dom-renderer');
      assert.deepEqual(await cspViolations(), []);
      assert.deepEqual(pageErrors, []);
    });
  });

  test('a reload reattaches to every session with its screen and title', async () => {
    await withKiln('', async (kiln, { page }) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, "printf '\\e]2;first-title\\a'; echo before-reload");
      await waitForLine(page, 'before-reload');
      await waitFor(page, 'the OSC title', () => window.__kiln.active().title === 'first-title');
      assert.match(await page.title(), /first-title/);
      await page.getByRole('button', { name: 'New terminal' }).click();
      await waitFor(page, 'two tabs', () => window.__kiln.tabs().length === 2);
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo second-tab');
      await waitForLine(page, 'second-tab');
      const ids = (await page.evaluate(() => window.__kiln.tabs())).map((t) => t.id);

      await page.reload();
      await waitFor(page, 'both tabs connected', () => {
        const tabs = window.__kiln?.tabs() ?? [];
        return tabs.length === 2 && tabs.every((t) => t.state === 'connected');
      });
      const tabs = await page.evaluate(() => window.__kiln.tabs());
      assert.deepEqual(
        tabs.map((t) => t.id),
        ids,
      );
      // The tab that was active stays active; each screen is back, and the title with it.
      assert.equal(tabs[1].active, true);
      await waitFor(page, 'both screens', ([a, b]) => {
        const lines = (id) => window.__kiln.text(id).split('\n');
        return lines(a).includes('before-reload') && lines(b).includes('second-tab');
      }, ids);
      await waitFor(page, 'the restored title', (id) => window.__kiln.tabs().find((t) => t.id === id)?.title === 'first-title', ids[0]);
      assert.equal((await kiln.api('/api/sessions')).body.sessions.length, 2);
      await typeLine(page, 'echo after-reload');
      await waitForLine(page, 'after-reload');
    });
  });

  test('tabs: new, rename by double-click, close ends the session', async () => {
    await withKiln('', async (kiln, { page }) => {
      await waitForState(page, 'connected');
      await page.getByRole('button', { name: 'New terminal' }).click();
      await waitFor(page, 'two tabs', () => window.__kiln.tabs().length === 2);
      await waitForState(page, 'connected');
      const [first, second] = await page.evaluate(() => window.__kiln.tabs());
      assert.equal(second.active, true);
      assert.notEqual(first.id, second.id);
      assert.equal((await kiln.api('/api/sessions')).body.sessions.length, 2);

      // Rename the second tab.
      await page.locator('.tab-item').nth(1).locator('.tab-label').dblclick();
      const input = page.getByRole('textbox', { name: 'New name for this tab' });
      await input.fill('build');
      await input.press('Enter');
      await waitFor(page, 'the new label', () => window.__kiln.tabs()[1].label === 'build');
      const renamed = (await kiln.api(`/api/sessions/${second.id}`)).body;
      assert.equal(renamed.label, 'build');
      assert.match(await page.getByRole('tab', { selected: true }).innerText(), /build/);

      // Close it: a running shell asks first.
      await page.getByRole('button', { name: 'Close build' }).click();
      await page.getByRole('button', { name: 'End shell' }).click();
      await waitFor(page, 'one tab', () => window.__kiln.tabs().length === 1);
      const left = (await kiln.api('/api/sessions')).body.sessions;
      assert.deepEqual(
        left.map((s) => s.id),
        [first.id],
      );
      assert.equal((await kiln.api(`/api/sessions/${second.id}`)).status, 404);
      // The remaining tab is active and usable.
      await waitForState(page, 'connected');
      await typeLine(page, 'echo still-here');
      await waitForLine(page, 'still-here');
    });
  });

  // At every profile (support/profiles.mjs): the banner and the empty state on a phone too.
  test('an exited shell says how it ended and can be closed', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, ALL, (profile) =>
        withProfilePage(browser(), kiln, profile, async ({ page }) => {
          await waitForState(page, 'connected');
          await waitForPrompt(page);
          await typeLine(page, 'exit 3');
          await waitForState(page, 'exited');
          const banner = page.locator('.panel:not(.inactive) .banner');
          await banner.getByText('The shell exited with code 3.').waitFor();
          assert.deepEqual((await page.evaluate(() => window.__kiln.active())).exit, { code: 3, signal: null });
          const box = await banner.boundingBox();
          assert.ok(onScreen(box, profile), `the banner fits the screen: ${JSON.stringify(box)}`);
          await profileShot(page, 'terminal-exited', profile);
          await press(banner.getByRole('button', { name: 'Close tab' }), profile);
          await waitFor(page, 'no tabs', () => window.__kiln.tabs().length === 0);
          await page.getByText('No terminals are open.').waitFor();
          assert.deepEqual((await kiln.api('/api/sessions')).body.sessions, []);
          const keyRow = page.getByRole('toolbar', { name: 'Extra keys' });
          assert.equal(await keyRow.isVisible(), false, 'no key row without a terminal');
          await profileShot(page, 'terminal-empty', profile);
          // And a new one can be started from the empty state.
          await press(page.locator('#empty-new'), profile);
          await waitForState(page, 'connected');
          await waitForPrompt(page);
          // A phone's key row is back with the terminal.
          assert.equal(await keyRow.isVisible(), profile.phone, 'the key row shows on phones only');
        }),
      );
    } finally {
      await kiln.stop();
    }
  });

  test('a dropped connection resumes from the last byte: nothing lost, nothing repeated', async () => {
    await withKiln('', async (_kiln, { page }) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'for i in $(seq 1 400); do echo n$i; sleep 0.005; done; echo loop-done');
      await waitForLine(page, 'n40');
      await page.evaluate(() => window.__kiln.drop());
      await waitFor(page, 'the reconnect to start', () => window.__kiln.active().state !== 'connected');
      await waitForState(page, 'connected');
      await waitForLine(page, 'loop-done');
      const numbers = (await page.evaluate(() => window.__kiln.text()))
        .split('\n')
        .filter((l) => /^n\d+$/.test(l))
        .map((l) => Number(l.slice(1)));
      assert.deepEqual(
        numbers,
        Array.from({ length: 400 }, (_, i) => i + 1),
      );
    });
  });

  // At every profile (support/profiles.mjs): Ctrl+Shift+F on a desktop, the drawer's Find
  // button on a phone; the find bar fits the screen.
  test('Ctrl+Shift+F (or the Find button) finds text in the terminal', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, ALL, (profile) =>
        withProfilePage(browser(), kiln, profile, async ({ page }) => {
          await waitForState(page, 'connected');
          await waitForPrompt(page);
          await typeLine(page, 'echo needle-in-haystack');
          await waitForLine(page, 'needle-in-haystack');
          if (profile.phone) await press(await toolButton(page, 'Find in terminal'), profile);
          else await page.keyboard.press('Control+Shift+F');
          const find = page.getByRole('searchbox', { name: 'Find' });
          await find.waitFor();
          await find.fill('needle-in');
          await find.press('Enter');
          assert.equal(await page.locator('.search-count').innerText(), '');
          await find.fill('absent-words');
          await find.press('Enter');
          await page.locator('.search-count').getByText('No matches').waitFor();
          const bar = await page.locator('.search-bar').boundingBox();
          assert.ok(onScreen(bar, profile), `the find bar fits the screen: ${JSON.stringify(bar)}`);
          assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is no wider than the screen');
          await profileShot(page, 'terminal-find', profile);
          await find.press('Escape');
          await page.locator('.search-bar').waitFor({ state: 'hidden' });
          // Focus is back in the terminal: typing reaches the shell.
          await page.keyboard.type('echo typed-after-search');
          await page.keyboard.press('Enter');
          await waitForLine(page, 'typed-after-search');
        }),
      );
    } finally {
      await kiln.stop();
    }
  });

  test('going offline shows it; back online the stream resumes', async () => {
    await withKiln('', async (_kiln, { page, context }) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'sleep 1; echo while-offline');
      await context.setOffline(true);
      await waitForState(page, 'offline');
      assert.match(await page.locator('#status').innerText(), /offline/);
      await context.setOffline(false);
      await waitForState(page, 'connected');
      await waitForLine(page, 'while-offline');
      await typeLine(page, 'echo back-online');
      await waitForLine(page, 'back-online');
      const text = await page.evaluate(() => window.__kiln.text());
      assert.equal(text.split('\n').filter((l) => l === 'while-offline').length, 1);
    });
  });

  test('the HTTP long-poll transport carries the same terminal', async () => {
    await withKiln('transport=poll', async (_kiln, { page, cspViolations }) => {
      await waitForState(page, 'connected');
      assert.match((await page.evaluate(() => window.__kiln.active())).summary, /long-poll/);
      await waitForPrompt(page);
      await typeLine(page, 'echo via-http');
      await waitForLine(page, 'via-http');
      await typeLine(page, 'for i in $(seq 1 200); do echo p$i; sleep 0.005; done; echo poll-done');
      await waitForLine(page, 'p20');
      await page.evaluate(() => window.__kiln.drop());
      await waitForLine(page, 'poll-done');
      const numbers = (await page.evaluate(() => window.__kiln.text()))
        .split('\n')
        .filter((l) => /^p\d+$/.test(l))
        .map((l) => Number(l.slice(1)));
      assert.deepEqual(
        numbers,
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.deepEqual(await cspViolations(), []);
    });
  });
});
