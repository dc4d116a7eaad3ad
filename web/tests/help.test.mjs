// Browser tests of help and the tab shortcuts: the first-run notice (shown until dismissed, and
// kiln remembers that), the shortcuts overlay from Ctrl+/ (in a terminal) and from its button,
// and Ctrl+Shift+T / [ / ] / 1-9 / W driving the tabs without a byte reaching the shells. The
// notice and the overlay run at every profile (support/profiles.mjs; on a phone the overlay comes
// from its button, there being no Ctrl key); the tab shortcuts, a physical keyboard's, on a
// desktop at both DPRs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPage, startKiln, toolButton, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, DESKTOPS, eachProfile, onScreen, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

describe('help and shortcuts', () => {
  test('first-run notice until dismissed; Ctrl+/ and the ? button show the shortcuts', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, ALL, (profile) =>
        withProfilePage(browser(), kiln, profile, async (ui) => {
          const { page } = ui;
          await waitForState(page, 'connected');
          const notice = page.getByRole('region', { name: /real shells, with your authority/ });
          await notice.waitFor();
          assert.match(await notice.innerText(), /read and change your files/);
          // Where the shortcuts are, also for a phone, which has no Ctrl+/.
          assert.match(await notice.innerText(), /The \? button \(under ⋯ on a narrow screen\) or Ctrl\+\/ lists the shortcuts/);
          await profileShot(page, 'help-first-run', profile);
          await press(notice.getByRole('button', { name: 'Got it' }), profile);
          await notice.waitFor({ state: 'hidden' });
          await waitFor(page, 'the dismissal kept', () => window.__kiln.settings().stored.first_run_seen === true && !window.__kiln.settings().pending);
          assert.equal((await kiln.api('/api/settings')).body.settings.first_run_seen, true);

          await waitForPrompt(page);
          const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
          if (!profile.phone) {
            await page.locator('.panel:not(.inactive) .xterm').click();
            await page.keyboard.press('Control+Slash');
            await help.waitFor();
            assert.match(await help.innerText(), /Ctrl\+Shift\+T/);
            await page.keyboard.press('Escape');
            await help.waitFor({ state: 'hidden' });
            // Back in the terminal, and the shell saw nothing of it.
            await page.keyboard.type('echo after-help');
            await page.keyboard.press('Enter');
            await waitForLine(page, 'after-help');
            assert.match(await page.evaluate(() => window.__kiln.text()), /[#$] echo after-help$/m);
          }
          await press(await toolButton(page, 'Keyboard shortcuts'), profile);
          await help.waitFor();
          assert.match(await help.innerText(), /Ctrl\+Shift\+T/);
          const box = await help.boundingBox();
          assert.ok(onScreen(box, profile), `the overlay fits the screen: ${JSON.stringify(box)}`);
          await profileShot(page, 'help-shortcuts', profile);
          await press(help.getByRole('button', { name: 'Close' }), profile);
          await help.waitFor({ state: 'hidden' });

          // Another browser of the same owner: no notice any more.
          const other = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
          try {
            await waitForState(other.page, 'connected');
            await waitFor(other.page, 'the settings loaded', () => window.__kiln.settings().stored.first_run_seen === true);
            assert.equal(await other.page.locator('#first-run').isVisible(), false);
          } finally {
            await other.close();
          }
          assert.deepEqual(await ui.cspViolations(), []);
        }),
      );
    } finally {
      await kiln.stop();
    }
  });

  // A physical keyboard's shortcuts: meaningless on a phone, so both DPRs on a desktop.
  test('Ctrl+Shift+T, [, ], 1-9 and W drive the tabs', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, DESKTOPS, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
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
        for (const tab of await page.evaluate(() => window.__kiln.tabs())) {
          assert.doesNotMatch(await page.evaluate((id) => window.__kiln.text(id), tab.id), /\x14|\x17/);
        }
        await profileShot(page, 'help-tab-shortcuts', profile);
      }));
    } finally {
      await kiln.stop();
    }
  });
});
