// Browser test of the Databricks token in the UI, against the kiln-emulator binary: the dialog
// asks for a token (link to the workspace's token page, masked field), refuses a bad one with the
// reason, takes a good one; the terminal works; a rotation happens (24-second tokens, renewed
// after 16 s); an outage of the tokens API shows a banner with the time left, and the banner goes
// once the next attempt succeeds. The dialog with a refused token is also shown at every
// profile (support/profiles.mjs): it fits the screen, a phone's targets are 44 px.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WAIT_MS, openPage, startEmulator, startKiln, typeLine, useBrowser, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, profileShot, smallTargets } from './support/profiles.mjs';

/** Token lifetime given to kiln: rotation after 16 s, expiry after 24 s. */
const LIFETIME_S = 24;
/** Long enough for a rotation (16 s) on a busy machine. */
const ROTATION_WAIT_MS = 60_000;

/** Waits until `fn(arg)` is truthy in the page, up to `ms`. */
function waitLong(page, what, ms, fn, arg) {
  return page.waitForFunction(fn, arg, { timeout: ms, polling: 100 }).catch(async (e) => {
    const view = await page.evaluate(() => ({
      status: window.__kilnCredentials?.status(),
      banner: window.__kilnCredentials?.banner(),
      indicator: window.__kilnCredentials?.indicator(),
    }));
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify(view)} (${e.message})`);
  });
}

const browser = useBrowser();

describe('credentials', () => {
  test('paste a token in the dialog, use the terminal, watch a rotation and an outage banner', { timeout: 180_000 }, async () => {
    const emu = await startEmulator();
    const kiln = await startKiln({
      env: { RUST_LOG: 'warn', DATABRICKS_HOST: emu.host, KILN_TOKEN_LIFETIME_SECONDS: String(LIFETIME_S) },
    });
    let ui;
    try {
      const pat = (await emu.admin('POST', '/tokens', { user: emu.user, lifetime_seconds: 3600 })).token_value;
      ui = await openPage(browser(), kiln.url);
      const { page } = ui;

      // The dialog asks for a token.
      const dialog = page.locator('#credentials-dialog');
      await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });
      assert.equal(await page.locator('#credentials-token').getAttribute('type'), 'password');
      assert.equal(await page.locator('#credentials-token-page').getAttribute('href'), `${emu.host}/settings/user/developer/access-tokens`);
      assert.match(await dialog.innerText(), /personal access token/);

      // A token Databricks refuses: the reason shows, the dialog stays.
      await page.locator('#credentials-token').fill('dapi-this-is-not-a-valid-token');
      await page.locator('#credentials-dialog button[type=submit]').click();
      await waitLong(page, 'the refusal', WAIT_MS, () => /refused/.test(document.getElementById('credentials-error')?.textContent ?? ''));
      assert.ok(await dialog.isVisible());

      // The real one.
      await page.locator('#credentials-token').fill(pat);
      await page.locator('#credentials-dialog button[type=submit]').click();
      await dialog.waitFor({ state: 'hidden', timeout: WAIT_MS });
      assert.equal(await page.locator('#credentials-token').inputValue(), '', 'the field is cleared');
      await waitLong(page, 'the indicator', WAIT_MS, () => window.__kilnCredentials.indicator().startsWith('token ✓ renews in'));
      assert.match(await page.locator('#notice').innerText(), /revoked/);

      // The terminal.
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo token-$((20+22))');
      await waitForLine(page, 'token-42');
      assert.ok(!(await page.evaluate(() => window.__kiln.text())).includes(pat), 'the token never reached the terminal');
      const first = await page.evaluate(() => window.__kilnCredentials.status().token.token_id);

      // A rotation happens and the indicator follows it.
      await waitLong(page, 'a rotation', ROTATION_WAIT_MS, () => Number(document.getElementById('credentials-indicator')?.dataset.rotations) >= 1);
      const second = await page.evaluate(() => window.__kilnCredentials.status().token.token_id);
      assert.notEqual(second, first);
      assert.equal(await page.locator('#credentials-banner').isVisible(), false);

      // The tokens API goes down before the next rotation: the banner shows the failure and the time left.
      const { id } = await emu.admin('POST', '/faults', { path: '/api/2.0/token/*', kind: 'outage', start_in_secs: 0, duration_secs: 3600 });
      await waitLong(page, 'the failure banner', ROTATION_WAIT_MS, () => /failing/.test(window.__kilnCredentials.banner()));
      const banner = await page.locator('#credentials-banner').innerText();
      assert.match(banner, /stays valid for \d+:\d\d/);
      assert.match(await page.locator('#credentials-indicator').innerText(), /renewal failing/);

      // It comes back: the next attempt succeeds, the banner goes, no new paste was needed.
      await emu.admin('DELETE', `/faults/${id}`);
      await waitLong(page, 'the recovery', WAIT_MS, () => {
        const st = window.__kilnCredentials.status();
        return st.token.state === 'active' && st.token.rotations >= 2 && window.__kilnCredentials.banner() === '';
      });
      assert.equal(await page.evaluate(() => window.__kilnCredentials.dialogOpen()), false);
      await typeLine(page, 'echo still-$((1+1))');
      await waitForLine(page, 'still-2');
      assert.deepEqual(await ui.cspViolations(), []);
      assert.deepEqual(ui.pageErrors, []);
      const errors = ui.consoleErrors.filter((m) => !/Failed to load resource/.test(m));
      assert.deepEqual(errors, [], 'only the refused paste shows as a failed request');
    } finally {
      await ui?.close();
      await kiln.stop();
      await emu.stop();
    }
  });

  test('the token dialog fits every screen', async (t) => {
    const emu = await startEmulator();
    const kiln = await startKiln({ env: { RUST_LOG: 'warn', DATABRICKS_HOST: emu.host } });
    try {
      await eachProfile(t, ALL, async (profile) => {
        const ui = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
        try {
          const { page } = ui;
          const dialog = page.locator('#credentials-dialog');
          await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });
          await page.locator('#credentials-token').fill('dapi-this-is-not-a-valid-token');
          await page.locator('#credentials-dialog button[type=submit]').click();
          await waitLong(page, 'the refusal', WAIT_MS, () => /refused/.test(document.getElementById('credentials-error')?.textContent ?? ''));
          const box = await dialog.boundingBox();
          assert.ok(onScreen(box, profile), `the dialog fits the screen: ${JSON.stringify(box)}`);
          assert.deepEqual(await smallTargets(dialog, profile), [], '44 px targets');
          assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'the page is no wider than the screen');
          await profileShot(page, 'credentials-dialog', profile);
          assert.deepEqual(await ui.cspViolations(), []);
        } finally {
          await ui.close();
        }
      });
    } finally {
      await kiln.stop();
      await emu.stop();
    }
  });
});
