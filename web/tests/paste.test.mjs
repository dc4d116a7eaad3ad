// Browser test of the multi-line paste confirmation: text of several lines asks first; Cancel
// sends nothing, OK pastes it all; with the setting off it pastes without asking. At every
// profile (support/profiles.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startKiln, toolButton, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** Pastes `text` into the active terminal as the browser's paste event would. */
function paste(page, text) {
  return page.evaluate((t) => {
    const dt = new DataTransfer();
    dt.setData('text/plain', t);
    const textarea = document.querySelector('.panel:not(.inactive) .xterm-helper-textarea');
    textarea.focus();
    textarea.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, text);
}

test('a paste of several lines asks first', async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      const asked = [];
      page.once('dialog', (d) => {
        asked.push(d.message());
        void d.dismiss();
      });
      await paste(page, 'echo first-paste\necho second-paste\n');
      assert.match(asked[0], /Paste 2 lines into the shell/);
      page.once('dialog', (d) => void d.accept());
      await paste(page, 'echo third-paste\necho fourth-paste\n');
      // bash's bracketed paste holds the lines until Enter.
      await waitFor(page, 'the pasted lines', () => window.__kiln.text().includes('echo fourth-paste'));
      await page.keyboard.press('Enter');
      await waitForLine(page, 'fourth-paste');
      const text = await page.evaluate(() => window.__kiln.text());
      assert.ok(!text.includes('first-paste'), 'the cancelled paste sent nothing');
      assert.ok(text.split('\n').includes('third-paste'));

      // Off in the settings: no question.
      await press(await toolButton(page, 'Settings'), profile);
      await page.getByLabel('Ask before pasting several lines').uncheck();
      await profileShot(page, 'paste-setting', profile);
      await press(page.getByRole('button', { name: 'Done' }), profile);
      await waitFor(page, 'the setting', () => window.__kiln.settings().stored.paste_confirm === false);
      let dialogs = 0;
      page.on('dialog', (d) => {
        dialogs += 1;
        void d.dismiss();
      });
      await paste(page, 'echo fifth-paste\necho sixth-paste\n');
      await waitFor(page, 'the pasted lines', () => window.__kiln.text().includes('echo sixth-paste'));
      await page.keyboard.press('Enter');
      await waitForLine(page, 'sixth-paste');
      assert.equal(dialogs, 0);
    }));
  } finally {
    await kiln.stop();
  }
});
