// Browser tests of what the terminal draws: text must be visible (pixels, not just the buffer)
// at device pixel ratios 1 and 2, with the renderer kiln picks by itself and with each one forced.
// Headless Chromium draws WebGL in software; there kiln picks the DOM renderer, because software
// WebGL drew blank terminals at ratio 2. At the profiles of support/profiles.mjs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inkPixels, openPage, withQuery, startKiln, typeLine, useBrowser, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, DESKTOPS, eachProfile, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

describe('renderer', () => {
  // The renderer kiln picks at every profile (a phone at DPR 2 is where software WebGL drew
  // blank); the forced DOM renderer at both DPRs (the viewport changes nothing for it).
  for (const [renderer, ids] of [
    ['auto', ALL],
    ['dom', DESKTOPS],
  ]) {
    test(`text is drawn (renderer ${renderer})`, async (t) => {
      const kiln = await startKiln();
      try {
        await eachProfile(t, ids, (profile) =>
          withProfilePage(
            browser(),
            kiln,
            profile,
            async (ui) => {
              const { page } = ui;
              await waitForState(page, 'connected');
              await waitForPrompt(page);
              const term = page.locator('.panel:not(.inactive) .term-host');
              const before = await inkPixels(browser(), term);
              await typeLine(page, 'for i in 1 2 3 4 5 6 7 8; do echo "######## line $i ########"; done');
              await waitForLine(page, '######## line 8 ########');
              const active = await page.evaluate(() => window.__kiln.active());
              if (renderer === 'dom') assert.equal(active.renderer, 'dom');
              // The lines of #s are ink: many more pixels differ from the background than before.
              const after = await inkPixels(browser(), term);
              const dpr = profile.dpr;
              assert.ok(after > before + 500 * dpr * dpr, `ink before ${before}, after ${after} (renderer ${active.renderer})`);
              await profileShot(page, `renderer-${renderer}`, profile);
              assert.deepEqual(await ui.cspViolations(), []);
            },
            { query: renderer === 'auto' ? '' : `?renderer=${renderer}` },
          ),
        );
      } finally {
        await kiln.stop();
      }
    });
  }

  test('forced WebGL at DPR 1 draws too (where the browser has WebGL 2)', async () => {
    const kiln = await startKiln();
    let ui;
    try {
      ui = await openPage(browser(), withQuery(kiln.url, 'renderer=webgl'), { viewport: { width: 800, height: 500 } });
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      const hasGl = await page.evaluate(() => !!document.createElement('canvas').getContext('webgl2'));
      const active = await page.evaluate(() => window.__kiln.active());
      assert.equal(active.renderer, hasGl ? 'webgl' : 'dom');
      const term = page.locator('.panel:not(.inactive) .term-host');
      const before = await inkPixels(browser(), term);
      await typeLine(page, 'for i in 1 2 3 4 5 6 7 8; do echo "######## line $i ########"; done');
      await waitForLine(page, '######## line 8 ########');
      const after = await inkPixels(browser(), term);
      assert.ok(after > before + 500, `ink before ${before}, after ${after}`);
    } finally {
      await ui?.close();
      await kiln.stop();
    }
  });
});
