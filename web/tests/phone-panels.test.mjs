// Browser tests of the overlays and panels on a phone (390x844, touch, DPR 1 and 2): the
// tools drawer, the shortcuts overlay, Settings and Sessions each fit the screen, can be
// scrolled to their last control, have 44 px targets, close again, and never widen the page.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPage, startKiln, toolButton, useBrowser, waitForState } from './support/kiln.mjs';
import { PHONES, PROFILES, profileShot } from './support/profiles.mjs';

const browser = useBrowser();

/** Checks the open `dialog`: inside the screen, 44 px buttons, the page no wider than the screen. */
async function fits(page, dialog, what) {
  const box = await dialog.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390 && box.y >= 0 && box.y + box.height <= 844, `${what} inside the screen: ${JSON.stringify(box)}`);
  const small = await dialog.locator('button:visible, select:visible').evaluateAll((els) =>
    els.map((e) => [e.textContent.trim() || e.getAttribute('aria-label'), e.getBoundingClientRect()]).filter(([, r]) => r.width < 44 || r.height < 44).map(([n, r]) => `${n} ${r.width}x${r.height}`),
  );
  assert.deepEqual(small, [], `${what}: 44 px targets`);
  // The last control can be brought into view and reached.
  const last = dialog.locator('button:visible').last();
  await last.scrollIntoViewIfNeeded();
  const lb = await last.boundingBox();
  assert.ok(lb.y + lb.height <= 844, `${what}: its last button is reachable`);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `${what}: page width ${width}`);
}

describe('phone panels', () => {
  for (const profile of PHONES.map((id) => PROFILES[id])) {
    test(`overlay and panels fit a phone (${profile.id}: ${profile.label})`, async () => {
      const kiln = await startKiln();
      let ui;
      try {
        ui = await openPage(browser(), kiln.url, profile.page);
        const { page } = ui;
        await waitForState(page, 'connected');
        // The tools sit in a drawer: the tab strip keeps its room.
        assert.ok(await page.locator('#tools').isHidden());
        const clipped = await page.locator('.tab-label').first().evaluate((el) => el.scrollWidth > el.clientWidth || el.getBoundingClientRect().width < 30);
        assert.ok(!clipped, 'the tab name shows whole');
        await page.getByRole('button', { name: 'More tools' }).tap();
        await fits(page, page.locator('#tools'), 'the tools drawer');
        await profileShot(page, 'phone-tools-drawer', profile);
        await page.keyboard.press('Escape');
        await page.locator('#tools').waitFor({ state: 'hidden' });
        const panels = [
          ['Keyboard shortcuts', 'Keyboard shortcuts', 'Close'],
          ['Settings', 'Settings', 'Done'],
          ['Sessions', 'Sessions', 'Close'],
        ];
        for (const [button, name, close] of panels) {
          await (await toolButton(page, button)).tap();
          const dialog = page.getByRole('dialog', { name });
          await dialog.waitFor();
          if (name === 'Sessions') await dialog.getByText('1 session on this server.').waitFor();
          await fits(page, dialog, name);
          await profileShot(page, `phone-${name.toLowerCase().replace(/ /g, '-')}`, profile);
          await dialog.getByRole('button', { name: close, exact: true }).tap();
          await dialog.waitFor({ state: 'hidden' });
        }
        assert.deepEqual(await ui.cspViolations(), []);
        assert.deepEqual(ui.pageErrors, []);
      } finally {
        await ui?.close();
        await kiln.stop();
      }
    });
  }
});
