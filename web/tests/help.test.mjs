// Browser tests of help and the tab shortcuts: the first-run notice (shown until dismissed, and
// kiln remembers that), the shortcuts overlay from Ctrl+/ (in a terminal) and from its button,
// and Ctrl+Shift+T / [ / ] / 1-9 / W driving the tabs without a byte reaching the shells.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPage, startKiln, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';

const browser = useBrowser();

describe('help and shortcuts', () => {
  test('first-run notice until dismissed; Ctrl+/ and the ? button show the shortcuts', async () => {
    const kiln = await startKiln();
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      const { page } = ui;
      await waitForState(page, 'connected');
      const notice = page.getByRole('region', { name: /real shells, with your authority/ });
      await notice.waitFor();
      assert.match(await notice.innerText(), /read and change your files/);
      await notice.getByRole('button', { name: 'Got it' }).click();
      await notice.waitFor({ state: 'hidden' });
      await waitFor(page, 'the dismissal kept', () => window.__kiln.settings().stored.first_run_seen === true && !window.__kiln.settings().pending);
      assert.equal((await kiln.api('/api/settings')).body.settings.first_run_seen, true);

      await waitForPrompt(page);
      await page.locator('.panel:not(.inactive) .xterm').click();
      await page.keyboard.press('Control+Slash');
      const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
      await help.waitFor();
      assert.match(await help.innerText(), /Ctrl\+Shift\+T/);
      await page.keyboard.press('Escape');
      await help.waitFor({ state: 'hidden' });
      // Back in the terminal, and the shell saw nothing of it.
      await page.keyboard.type('echo after-help');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'after-help');
      assert.match(await page.evaluate(() => window.__kiln.text()), /[#$] echo after-help$/m);
      await page.getByRole('button', { name: 'Keyboard shortcuts' }).click();
      await help.waitFor();
      await help.getByRole('button', { name: 'Close' }).click();
      await help.waitFor({ state: 'hidden' });

      // Another browser of the same owner: no notice any more.
      const other = await openPage(browser(), `${kiln.origin}/`, { signedIn: true });
      try {
        await waitForState(other.page, 'connected');
        await waitFor(other.page, 'the settings loaded', () => window.__kiln.settings().stored.first_run_seen === true);
        assert.equal(await other.page.locator('#first-run').isVisible(), false);
      } finally {
        await other.close();
      }
      assert.deepEqual(await ui.cspViolations(), []);
    } finally {
      await ui?.close();
      await kiln.stop();
    }
  });

  test('Ctrl+Shift+T, [, ], 1-9 and W drive the tabs', async () => {
    const kiln = await startKiln();
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await page.locator('.panel:not(.inactive) .xterm').click();
      for (const n of [2, 3]) {
        await page.keyboard.press('Control+Shift+KeyT');
        await waitFor(page, `${n} tabs connected`, (n) => window.__kiln.tabs().length === n && window.__kiln.active().state === 'connected', n);
      }
      const active = () => page.evaluate(() => window.__kiln.tabs().findIndex((t) => t.active));
      assert.equal(await active(), 2);
      await page.keyboard.press('Control+Shift+BracketLeft');
      await waitFor(page, 'tab 2', () => window.__kiln.tabs()[1].active);
      await page.keyboard.press('Control+Shift+BracketRight');
      await page.keyboard.press('Control+Shift+BracketRight');
      await waitFor(page, 'tab 1 (wrapped round)', () => window.__kiln.tabs()[0].active);
      await page.keyboard.press('Control+Shift+Digit3');
      await waitFor(page, 'tab 3', () => window.__kiln.tabs()[2].active);
      // The new active terminal has the focus: typing reaches its shell.
      await waitForPrompt(page);
      await page.keyboard.type('echo in-third');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'in-third');
      await page.keyboard.press('Control+Shift+KeyW');
      await page.getByRole('button', { name: 'End shell' }).click();
      await waitFor(page, 'two tabs', () => window.__kiln.tabs().length === 2);
      assert.equal((await kiln.api('/api/sessions')).body.sessions.length, 2);
      for (const t of await page.evaluate(() => window.__kiln.tabs())) {
        assert.doesNotMatch(await page.evaluate((id) => window.__kiln.text(id), t.id), /\x14|\x17/);
      }
    } finally {
      await ui?.close();
      await kiln.stop();
    }
  });
});
