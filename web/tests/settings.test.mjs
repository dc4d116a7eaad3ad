// Browser tests of the settings: the theme follows the OS (prefers-color-scheme) until one is
// chosen; the settings dialog changes theme, font size, cursor and copy on select at once; kiln
// keeps them (GET/PUT api/settings), so another browser gets them; Ctrl+= / Ctrl+- / Ctrl+0
// change the font size. Also the README's screenshots, dark and light.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  openPage,
  saveScreenshot,
  startKiln,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
} from './support/kiln.mjs';

const browser = useBrowser();

async function withKiln(body) {
  const kiln = await startKiln();
  try {
    await body(kiln);
  } finally {
    await kiln.stop();
  }
}

const settingsOf = (page) => page.evaluate(() => window.__kiln.settings());
const colour = (page, name) => page.evaluate((n) => getComputedStyle(document.documentElement).getPropertyValue(n).trim(), name);

describe('settings', () => {
  test('the theme follows the OS until chosen; chosen settings follow the owner to another browser', async () => {
    await withKiln(async (kiln) => {
      for (const scheme of ['light', 'dark']) {
        const ui = await openPage(browser(), `${kiln.origin}/`, { colorScheme: scheme, signedIn: true });
        try {
          await waitForState(ui.page, 'connected');
          assert.equal(await ui.page.evaluate(() => document.documentElement.dataset.theme), `kiln-${scheme}`);
          const bg = await ui.page.evaluate(() => getComputedStyle(document.querySelector('.topbar')).backgroundColor);
          const [r, g, b] = bg.match(/\d+/g).map(Number);
          assert.equal(r + g + b > 384, scheme === 'light', `top bar ${bg} in ${scheme}`);
          await waitForPrompt(ui.page);
          await typeLine(ui.page, `printf '\\e[1mkiln\\e[0m: \\e[32mgreen\\e[0m \\e[33myellow\\e[0m \\e[34mblue\\e[0m \\e[35mmagenta\\e[0m \\e[36mcyan\\e[0m \\e[31mred\\e[0m\\n'`);
          await waitForLine(ui.page, 'kiln: green yellow blue magenta cyan red');
          await saveScreenshot(ui.page, `ui-${scheme}`);
          assert.deepEqual(await ui.cspViolations(), []);
        } finally {
          await ui.close();
        }
      }

      const ui = await openPage(browser(), `${kiln.origin}/`, { colorScheme: 'dark', signedIn: true });
      const { page } = ui;
      try {
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        const colsBefore = (await page.evaluate(() => window.__kiln.active())).cols;
        await page.getByRole('button', { name: 'Settings' }).click();
        const dialog = page.getByRole('dialog', { name: 'Settings' });
        await dialog.getByLabel('Theme').selectOption('solarized-light');
        await dialog.getByRole('button', { name: /Larger font/ }).click();
        await dialog.getByRole('button', { name: /Larger font/ }).click();
        await dialog.getByLabel('Cursor', { exact: true }).selectOption('bar');
        await dialog.getByLabel('Copy on select').check();
        await dialog.getByRole('button', { name: 'Done' }).click();
        await waitFor(page, 'the settings saved', () => !window.__kiln.settings().pending && window.__kiln.settings().stored.copy_on_select === true);
        const active = await page.evaluate(() => window.__kiln.active());
        assert.equal(active.fontSize, 16);
        assert.equal(active.cursor, 'bar');
        // A larger font means fewer columns, and the server was told.
        assert.ok(active.cols < colsBefore, `${active.cols} < ${colsBefore}`);
        assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'solarized-light');
        const stored = (await kiln.api('/api/settings')).body.settings;
        assert.equal(stored.theme, 'solarized-light');
        assert.equal(stored.font_size, 16);
        assert.equal(stored.cursor, 'bar');
        assert.equal(stored.copy_on_select, true);
        // Focus came back to the terminal: typing works.
        await page.keyboard.type('echo after-settings');
        await page.keyboard.press('Enter');
        await waitForLine(page, 'after-settings');
      } finally {
        await ui.close();
      }

      // Another browser (a fresh context: only the key in its storage) in a dark OS gets the
      // owner's choice.
      const other = await openPage(browser(), `${kiln.origin}/`, { colorScheme: 'dark', signedIn: true });
      try {
        await waitForState(other.page, 'connected');
        assert.equal(await other.page.evaluate(() => document.documentElement.dataset.theme), 'solarized-light');
        assert.equal((await other.page.evaluate(() => window.__kiln.active())).fontSize, 16);
        assert.equal((await settingsOf(other.page)).stored.copy_on_select, true);
      } finally {
        await other.close();
      }
    });
  });

  test('Ctrl+= / Ctrl+- / Ctrl+0 change the font size within 8..32, and it is kept', async () => {
    await withKiln(async (kiln) => {
      const ui = await openPage(browser(), kiln.url);
      const { page } = ui;
      try {
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        await page.locator('.panel:not(.inactive) .xterm').click();
        await page.keyboard.press('Control+Equal');
        await waitFor(page, 'font 15', () => window.__kiln.active().fontSize === 15);
        for (let i = 0; i < 30; i++) await page.keyboard.press('Control+Minus');
        await waitFor(page, 'font 8 (the minimum)', () => window.__kiln.active().fontSize === 8);
        await waitFor(page, 'the size saved', () => window.__kiln.settings().stored.font_size === 8 && !window.__kiln.settings().pending);
        assert.equal((await kiln.api('/api/settings')).body.settings.font_size, 8);
        await page.keyboard.press('Control+Digit0');
        await waitFor(page, 'font 14 (the default)', () => window.__kiln.active().fontSize === 14);
        // The keys never reached the shell.
        await typeLine(page, 'echo keys-done');
        await waitForLine(page, 'keys-done');
        assert.doesNotMatch(await page.evaluate(() => window.__kiln.text()), /\^_|=/);
      } finally {
        await ui.close();
      }
    });
  });
});
