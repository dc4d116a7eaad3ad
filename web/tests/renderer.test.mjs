// Browser tests of what the terminal draws: text must be visible (pixels, not just the buffer)
// at device pixel ratios 1 and 2, with the renderer kiln picks by itself and with each one forced.
// Headless Chromium draws WebGL in software; there kiln picks the DOM renderer, because software
// WebGL drew blank terminals at ratio 2.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inkPixels, openPage, withQuery, saveScreenshot, startKiln, typeLine, useBrowser, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';

const browser = useBrowser();

describe('renderer', () => {
  for (const dpr of [1, 2]) {
    for (const renderer of ['auto', 'dom']) {
      test(`text is drawn at DPR ${dpr} (renderer ${renderer})`, async () => {
        const kiln = await startKiln();
        let ui;
        try {
          const url = renderer === 'auto' ? kiln.url : withQuery(kiln.url, `renderer=${renderer}`);
          ui = await openPage(browser(), url, { viewport: { width: 800, height: 500 }, deviceScaleFactor: dpr });
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
          assert.ok(after > before + 500 * dpr * dpr, `ink before ${before}, after ${after} (renderer ${active.renderer})`);
          await saveScreenshot(page, `renderer-${renderer}-dpr${dpr}`);
          assert.deepEqual(await ui.cspViolations(), []);
        } finally {
          await ui?.close();
          await kiln.stop();
        }
      });
    }
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
