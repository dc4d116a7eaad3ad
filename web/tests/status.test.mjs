// Browser test of kiln's state at a glance (status-area.ts), against the real `kiln serve` and the
// kiln-emulator: the token and sync chips in one area of the status bar, the overview with every
// part's details (the token's time left, renewals, failures), and on a phone one summary button
// that opens the same overview without widening the page. The desktop test runs at both desktop
// profiles, the phone one at both phone profiles (support/profiles.mjs).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openPage, startEmulator, startKiln, useBrowser, waitFor, waitForState } from './support/kiln.mjs';
import { DESKTOPS, PHONES, eachProfile, profileShot } from './support/profiles.mjs';

const browser = useBrowser();

describe('status area', () => {
  let emu;
  let kiln;
  before(async () => {
    emu = await startEmulator();
    kiln = await startKiln({ env: { DATABRICKS_HOST: emu.host } });
    const pat = (await emu.admin('POST', '/tokens', { user: emu.user, lifetime_seconds: 3600 })).token_value;
    const res = await kiln.api('/api/credentials', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: pat }) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
  after(async () => {
    await kiln?.stop();
    await emu?.stop();
  });

  test('desktop: every part in one area, details on click', async (t) => {
    await eachProfile(t, DESKTOPS, async (profile) => {
      const ui = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
      try {
        const { page } = ui;
        await waitForState(page, 'connected');
        await waitFor(page, 'the token chip', () => (window.__kilnStatus?.parts() ?? []).some((p) => p.id === 'credentials-indicator' && p.level === 'ok'));
        const area = page.locator('#kiln-state');
        assert.ok(await area.isVisible());
        // The token's chip sits inside the one area, in the status bar.
        assert.equal(await page.locator('.statusbar #kiln-state #credentials-indicator').count(), 1);
        assert.match(await page.locator('#credentials-indicator').innerText(), /^token ✓ renews in/);
        assert.ok(await page.locator('#state-summary').isHidden(), 'the summary button is for narrow screens');

        await page.locator('#credentials-indicator').click();
        const overview = page.getByRole('dialog', { name: 'kiln at a glance' });
        await overview.waitFor();
        const token = overview.locator('[data-slot="credentials-indicator"]');
        assert.match(await token.innerText(), /Databricks token[\s\S]*Valid for \d+:\d\d[\s\S]*Renewed 0 times/);
        assert.match(await token.innerText(), new RegExp(`Workspace: ${emu.host.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        await profileShot(page, 'status-overview', profile);
        await overview.getByRole('button', { name: 'Close' }).click();
        await overview.waitFor({ state: 'hidden' });
        assert.deepEqual(await ui.cspViolations(), []);
        assert.deepEqual(ui.pageErrors, []);
      } finally {
        await ui.close();
      }
    });
  });

  test('phone: one summary button opens the overview, nothing widens the page', async (t) => {
    await eachProfile(t, PHONES, async (profile) => {
      const ui = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
      try {
        const { page } = ui;
        await waitForState(page, 'connected');
        await waitFor(page, 'the token part', () => (window.__kilnStatus?.parts() ?? []).some((p) => p.id === 'credentials-indicator'));
        const summary = page.locator('#state-summary');
        await summary.waitFor();
        assert.ok(await page.locator('#credentials-indicator').isHidden(), 'the chips fold into the summary');
        const box = await summary.boundingBox();
        assert.ok(box.width >= 44 && box.height >= 44, `a 44 px touch target: ${JSON.stringify(box)}`);
        assert.equal(await summary.getAttribute('aria-label'), 'kiln state: all well');
        await summary.tap();
        const overview = page.getByRole('dialog', { name: 'kiln at a glance' });
        await overview.waitFor();
        const d = await overview.boundingBox();
        assert.ok(d.x >= 0 && d.x + d.width <= 390, `the overview fits the screen: ${JSON.stringify(d)}`);
        assert.match(await overview.innerText(), /Databricks token/);
        const width = await page.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 390, `page width ${width}`);
        await profileShot(page, 'status-overview', profile);
        await overview.getByRole('button', { name: 'Close' }).tap();
        await overview.waitFor({ state: 'hidden' });
      } finally {
        await ui.close();
      }
    });
  });
});
