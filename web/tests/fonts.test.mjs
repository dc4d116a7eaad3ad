// Browser test of the fonts kiln ships (JetBrains Mono and Fira Code from pinned @fontsource
// packages, served by kiln itself): chosen in Settings, the font file comes from kiln's own
// origin, the terminal uses it once loaded, the page makes no request elsewhere and no CSP
// violation fires; the licence is served beside the font. At every profile (support/profiles.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inkPixels, startKiln, toolButton, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

test('a shipped font, from kiln only', async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await press(await toolButton(page, 'Settings'), profile);
      const dialog = page.getByRole('dialog', { name: 'Settings' });
      await dialog.getByLabel('Font', { exact: true }).selectOption('jetbrains-mono');
      await press(dialog.getByRole('button', { name: 'Done' }), profile);
      await waitFor(page, 'the terminal in JetBrains Mono', () => (window.__kiln.active()?.fontFamily ?? '').startsWith('"JetBrains Mono"'));
      assert.ok(await page.evaluate(() => document.fonts.check('16px "JetBrains Mono"')), 'the font is loaded');
      const resources = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name));
      assert.ok(resources.some((r) => r === `${kiln.origin}/fonts/jetbrains-mono-latin-400-normal.woff2`), JSON.stringify(resources));
      for (const r of resources) assert.ok(r.startsWith(kiln.origin) || r.startsWith('data:'), `no request elsewhere: ${r}`);
      await typeLine(page, 'echo font-$((4*4))');
      await waitForLine(page, 'font-16');
      assert.ok((await inkPixels(browser(), page.locator('.panel:not(.inactive) .term-host'))) > 200, 'text is drawn');
      await profileShot(page, 'fonts-jetbrains-mono', profile);
      const license = await fetch(`${kiln.origin}/fonts/jetbrains-mono-LICENSE.txt`);
      assert.equal(license.status, 200);
      assert.match(await license.text(), /SIL Open Font License/);
      assert.deepEqual(await ui.cspViolations(), []);
      assert.deepEqual(ui.pageErrors, []);
    }));
  } finally {
    await kiln.stop();
  }
});
