// Browser test of large pastes (paste.ts): 3 MB of text streams to the shell in slices with a
// progress bar, arrives whole (checked byte for byte with sha256sum), and a paste cancelled
// half-way stops with exactly the bytes sent so far delivered, the terminal usable afterwards.
// At every profile (support/profiles.mjs): the progress bar must fit a phone too.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { startKiln, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** `lines` lines of 100 characters each (3 MB for 30,000), ending with a line break. */
function bigText(lines) {
  let out = '';
  for (let i = 0; i < lines; i++) out += `line ${String(i).padStart(6, '0')} ${'abcdefghij'.repeat(8)}0123456\n`;
  return out;
}

/** Pastes `text` into the active terminal as the browser's paste event would, and records every
 *  progress text shown meanwhile (in `window.__pasteTexts`). */
function paste(page, text) {
  return page.evaluate((t) => {
    window.__pasteTexts = [];
    new MutationObserver(() => {
      const el = document.querySelector('.paste-text');
      if (el) window.__pasteTexts.push(el.textContent);
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
    const dt = new DataTransfer();
    dt.setData('text/plain', t);
    const textarea = document.querySelector('.panel:not(.inactive) .xterm-helper-textarea');
    textarea.focus();
    textarea.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, text);
}

test('a 3 MB paste streams with progress and arrives whole', { timeout: 300_000 }, async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      const text = bigText(30_000);
      const bytes = Buffer.byteLength(text);
      const sha = createHash('sha256').update(text).digest('hex');
      await typeLine(page, `stty -echo; echo go-$((6*7)); head -c ${bytes} > ~/pasted.txt; stty echo; sha256sum < ~/pasted.txt`);
      await waitForLine(page, 'go-42');
      page.once('dialog', (d) => void d.accept()); // 30,000 lines: asked first
      await paste(page, text);
      await waitFor(page, 'the progress bar', () => !!document.querySelector('.paste-progress'));
      await profileShot(page, 'paste-progress', profile);
      const bar = await page.locator('.paste-progress').boundingBox();
      // The bar may be gone already on a fast machine; where it is, it fits the screen.
      if (bar) assert.ok(onScreen(bar, profile), `the progress bar fits: ${JSON.stringify(bar)}`);
      // (A phone's 43 columns wrap it: the lines are joined.)
      await waitFor(page, 'the checksum', (sha) => window.__kiln.text().replace(/\n/g, '').includes(sha), sha);
      await waitFor(page, 'the progress bar gone', () => !document.querySelector('.paste-progress'));
      const texts = await page.evaluate(() => window.__pasteTexts);
      const partial = texts.filter((t) => /^Pasting [\d.]+ [kM]B of 3\.0 MB/.test(t) && !t.startsWith('Pasting 3.0 MB'));
      assert.ok(partial.length >= 3, `progress shown along the way: ${JSON.stringify(texts.slice(0, 5))}`);
      assert.match(await page.locator('#notice').innerText(), /Pasted 3\.0 MB/);
      assert.deepEqual(ui.pageErrors, []);
    }));
  } finally {
    await kiln.stop();
  }
});

test('a large paste cancelled half-way delivers exactly what was sent', { timeout: 300_000 }, async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'stty -echo; echo go-$((6*8)); cat > ~/partial.txt; stty echo; echo "size=$(wc -c < ~/partial.txt)"');
      await waitForLine(page, 'go-48');
      const text = bigText(60_000);
      page.once('dialog', (d) => void d.accept());
      await paste(page, text);
      const cancel = page.getByRole('button', { name: 'Cancel paste' });
      await press(cancel, profile);
      await waitFor(page, 'the progress bar gone', () => !document.querySelector('.paste-progress'));
      const notice = await page.locator('#notice').innerText();
      assert.match(notice, /^Paste cancelled after [\d.]+ [kM]B of 6\.0 MB/);
      // The rest of a line, then end-of-file for cat: the file holds every byte sent.
      await page.keyboard.press('Enter');
      await page.keyboard.press('Control+D');
      await waitFor(page, 'the size', () => /^size=\d+$/m.test(window.__kiln.text()));
      const size = Number(/^size=(\d+)$/m.exec(await page.evaluate(() => window.__kiln.text()))[1]);
      const sent = (await page.evaluate(() => window.__kiln.active().paste)).sent;
      assert.ok(sent > 0 && sent < Buffer.byteLength(text), `cancelled half-way: ${sent}`);
      // Every byte sent, plus the Enter typed after: nothing lost, nothing repeated.
      assert.equal(size, sent + 1);
      await waitForPrompt(page);
      await typeLine(page, 'echo after-$((2+3))');
      await waitForLine(page, 'after-5');
      await profileShot(page, 'paste-cancelled', profile);
    }));
  } finally {
    await kiln.stop();
  }
});
