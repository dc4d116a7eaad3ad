// Browser tests of the settings: the theme follows the OS (prefers-color-scheme) until one is
// chosen; the settings dialog changes theme, font size, cursor and copy on select at once; kiln
// keeps them (GET/PUT api/settings), so another browser gets them; Ctrl+= / Ctrl+- / Ctrl+0
// change the font size. Also the README's screenshots, dark and light. The theme and the dialog run
// at every profile (support/profiles.mjs); the font keys, a physical keyboard's, on a desktop at
// both DPRs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  WAIT_MS,
  openPage,
  saveScreenshot,
  startKiln,
  toolButton,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
} from './support/kiln.mjs';
import { ALL, DESKTOPS, eachProfile, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** Waits until kiln's session `id` has `cols` columns (the page's resize is in flight). */
async function serverCols(kiln, id, cols) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    last = (await kiln.api(`/api/sessions/${id}`)).body?.cols;
    if (last === cols) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`kiln's session has ${last} columns, not ${cols}`);
}

const settingsOf = (page) => page.evaluate(() => window.__kiln.settings());

describe('settings', () => {
  test('the theme follows the OS until chosen; chosen settings follow the owner to another browser', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, ALL, (profile) =>
        withProfilePage(
          browser(),
          kiln,
          profile,
          async (ui) => {
            const { page } = ui;
            await waitForState(page, 'connected');
            await waitForPrompt(page);
            const colsBefore = (await page.evaluate(() => window.__kiln.active())).cols;
            await typeLine(page, `printf '\\e[1mkiln\\e[0m: \\e[32mgreen\\e[0m \\e[33myellow\\e[0m \\e[34mblue\\e[0m \\e[35mmagenta\\e[0m \\e[36mcyan\\e[0m \\e[31mred\\e[0m\\n'`);
            await waitForLine(page, 'kiln: green yellow blue magenta cyan red');
            // The page opened in a dark OS; the OS turning light turns the page light at once.
            for (const scheme of ['dark', 'light']) {
              await page.emulateMedia({ colorScheme: scheme });
              await waitFor(page, `the ${scheme} theme`, (id) => document.documentElement.dataset.theme === id, `kiln-${scheme}`);
              const bg = await page.evaluate(() => getComputedStyle(document.querySelector('.topbar')).backgroundColor);
              const [r, g, b] = bg.match(/\d+/g).map(Number);
              assert.equal(r + g + b > 384, scheme === 'light', `top bar ${bg} in ${scheme}`);
              // The README's screenshots are the desktop ones at DPR 1.
              if (profile.id === 'desktop1') await saveScreenshot(page, `ui-${scheme}`);
              await profileShot(page, `settings-os-${scheme}`, profile);
            }
            await page.emulateMedia({ colorScheme: 'dark' });

            await press(await toolButton(page, 'Settings'), profile);
            const dialog = page.getByRole('dialog', { name: 'Settings' });
            await dialog.getByLabel('Theme').selectOption('solarized-light');
            await press(dialog.getByRole('button', { name: /Larger font/ }), profile);
            await press(dialog.getByRole('button', { name: /Larger font/ }), profile);
            await dialog.getByLabel('Cursor', { exact: true }).selectOption('bar');
            await dialog.getByLabel('Copy on select').check();
            await profileShot(page, 'settings-dialog', profile);
            await press(dialog.getByRole('button', { name: 'Done' }), profile);
            await waitFor(page, 'the settings saved', () => !window.__kiln.settings().pending && window.__kiln.settings().stored.copy_on_select === true);
            const active = await page.evaluate(() => window.__kiln.active());
            assert.equal(active.fontSize, 16);
            assert.equal(active.cursor, 'bar');
            // A larger font means fewer columns, and the server was told.
            assert.ok(active.cols < colsBefore, `${active.cols} < ${colsBefore}`);
            await serverCols(kiln, active.id, active.cols);
            assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'solarized-light');
            const stored = (await kiln.api('/api/settings')).body.settings;
            assert.equal(stored.theme, 'solarized-light');
            assert.equal(stored.font_size, 16);
            assert.equal(stored.cursor, 'bar');
            assert.equal(stored.copy_on_select, true);
            // The OS changing its scheme no longer changes a chosen theme.
            await page.emulateMedia({ colorScheme: 'light' });
            await page.emulateMedia({ colorScheme: 'dark' });
            assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'solarized-light');
            // Focus came back to the terminal: typing works.
            await page.keyboard.type('echo after-settings');
            await page.keyboard.press('Enter');
            await waitForLine(page, 'after-settings');
            assert.deepEqual(await ui.cspViolations(), []);

            // Another browser (a fresh context: only the key in its storage) in a dark OS gets
            // the owner's choice.
            const other = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, colorScheme: 'dark', signedIn: true });
            try {
              await waitForState(other.page, 'connected');
              assert.equal(await other.page.evaluate(() => document.documentElement.dataset.theme), 'solarized-light');
              assert.equal((await other.page.evaluate(() => window.__kiln.active())).fontSize, 16);
              assert.equal((await settingsOf(other.page)).stored.copy_on_select, true);
            } finally {
              await other.close();
            }
          },
          { colorScheme: 'dark' },
        ),
      );
    } finally {
      await kiln.stop();
    }
  });

  // A physical keyboard's keys: meaningless on a phone, so both DPRs on a desktop.
  test('Ctrl+= / Ctrl+- / Ctrl+0 change the font size within 8..32, and it is kept', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, DESKTOPS, (profile) =>
        withProfilePage(browser(), kiln, profile, async ({ page }) => {
          await waitForState(page, 'connected');
          await waitForPrompt(page);
          await page.locator('.panel:not(.inactive) .xterm').click();
          await page.keyboard.press('Control+Equal');
          await waitFor(page, 'font 15', () => window.__kiln.active().fontSize === 15);
          for (let i = 0; i < 30; i++) await page.keyboard.press('Control+Minus');
          await waitFor(page, 'font 8 (the minimum)', () => window.__kiln.active().fontSize === 8);
          await waitFor(page, 'the size saved', () => window.__kiln.settings().stored.font_size === 8 && !window.__kiln.settings().pending);
          assert.equal((await kiln.api('/api/settings')).body.settings.font_size, 8);
          await profileShot(page, 'settings-font-8', profile);
          await page.keyboard.press('Control+Digit0');
          await waitFor(page, 'font 14 (the default)', () => window.__kiln.active().fontSize === 14);
          // The keys never reached the shell.
          await typeLine(page, 'echo keys-done');
          await waitForLine(page, 'keys-done');
          assert.doesNotMatch(await page.evaluate(() => window.__kiln.text()), /\^_|=/);
        }),
      );
    } finally {
      await kiln.stop();
    }
  });
});
