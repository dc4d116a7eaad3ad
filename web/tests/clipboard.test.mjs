// Browser tests of getting things into and out of a terminal: files dropped or pasted are
// uploaded to ~/uploads and their shell-quoted paths typed at the prompt; Ctrl+Shift+C copies
// the selection; Ctrl+Shift+V and Shift+Insert paste. Uploads run at every profile
// (support/profiles.mjs); the copy and paste keys, a physical keyboard's, at both desktop DPRs.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  startKiln,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
} from './support/kiln.mjs';
import { ALL, DESKTOPS, eachProfile, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

const TERMINAL = '.panel:not(.inactive) .xterm';

test('dropped and pasted files are uploaded and their paths typed at the prompt', async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);

      // Drag and drop a file whose name needs quoting.
      await page.locator(TERMINAL).click();
      await page.keyboard.type('cat ');
      // One name per profile: the uploads of the profiles before are still in ~/uploads (kiln
      // never overwrites one, it names the next "my notes-1.txt").
      await page.evaluate((id) => {
        const dt = new DataTransfer();
        dt.items.add(new File(['dropped-content-42\n'], `my notes ${id}.txt`, { type: 'text/plain' }));
        const target = document.querySelector('.panel:not(.inactive) .term-host');
        for (const type of ['dragenter', 'dragover', 'drop']) {
          target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
        }
      }, profile.id);
      const dropped = join(kiln.home, 'uploads', `my notes ${profile.id}.txt`);
      // (A phone's 43 columns wrap the path: the lines are joined.)
      await waitFor(page, 'the quoted path at the prompt', (p) => window.__kiln.text().replace(/\n/g, '').includes(`cat '${p}'`), dropped);
      await page.keyboard.press('Enter');
      await waitForLine(page, 'dropped-content-42');
      assert.equal(await readFile(dropped, 'utf8'), 'dropped-content-42\n');

      // Paste a binary file (clipboard with a file, as when copying one in a file manager).
      await page.keyboard.type('wc -c ');
      await page.evaluate((id) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(Array.from({ length: 256 }, (_, i) => i))], `data-${id}.bin`));
        const textarea = document.querySelector('.panel:not(.inactive) .xterm-helper-textarea');
        textarea.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      }, profile.id);
      const pasted = join(kiln.home, 'uploads', `data-${profile.id}.bin`);
      await waitFor(page, 'the pasted path at the prompt', (p) => window.__kiln.text().replace(/\n/g, '').includes(`wc -c ${p}`), pasted);
      assert.match(await page.locator('#notice').innerText(), /Uploaded/);
      await profileShot(page, 'clipboard-upload', profile);
      await page.keyboard.press('Enter');
      await waitFor(page, 'the size of the pasted file', (p) => window.__kiln.text().replace(/\n/g, '').includes(`256 ${p}`), pasted);
      assert.equal((await readFile(pasted)).length, 256);
      assert.deepEqual(await ui.cspViolations(), []);
    }));
  } finally {
    await kiln.stop();
  }
});

test('Ctrl+Shift+C copies the selection; Ctrl+Shift+V and Shift+Insert paste', async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, DESKTOPS, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo copy-me-123');
      await waitForLine(page, 'copy-me-123');

      // Double-click the word in the output line to select it.
      const row = (await page.evaluate(() => window.__kiln.text())).split('\n').indexOf('copy-me-123');
      const { cols, rows } = await page.evaluate(() => window.__kiln.active());
      const box = await page.locator(`${TERMINAL} .xterm-screen`).boundingBox();
      const cellW = box.width / cols;
      const cellH = box.height / rows;
      await page.mouse.dblclick(box.x + cellW * 3.5, box.y + cellH * (row + 0.5));
      await page.keyboard.press('Control+Shift+C');
      await waitFor(page, 'the copied text on the clipboard', async () => (await navigator.clipboard.readText()) === 'copy-me-123');

      // Paste it back with Ctrl+Shift+V.
      await page.keyboard.type('echo again-');
      await page.keyboard.press('Control+Shift+V');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'again-copy-me-123');

      // Shift+Insert pastes too.
      await page.evaluate(() => navigator.clipboard.writeText('echo via-shift-insert'));
      await page.keyboard.press('Shift+Insert');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'via-shift-insert');
      await profileShot(page, 'clipboard-keys', profile);
      assert.deepEqual(ui.pageErrors, []);
    }, { permissions: ['clipboard-read', 'clipboard-write'] }));
  } finally {
    await kiln.stop();
  }
});
