// Browser test of the sessions panel (Ctrl+Shift+S and its button): every session on the server
// with its foreground process, size and viewers; attach one started elsewhere, rename, end one,
// end all (after a confirmation). At every profile (support/profiles.mjs): on a phone the panel
// opens from its button in the tools drawer (Ctrl+Shift+S is a physical keyboard's).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startKiln, toolButton, typeLine, useBrowser, waitFor, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

test('sessions panel: list, attach, rename, end, end all', async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      const { page } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'sleep 300');
      // The panel shows what the server reports when it opens: wait until the shell has started
      // sleep (between the shell handing it the terminal and its exec, the name is still bash).
      const mine = await page.evaluate(() => window.__kiln.active().id);
      for (const started = Date.now(); ;) {
        const { sessions } = (await kiln.api('/api/sessions')).body;
        if (sessions.some((s) => s.id === mine && s.foreground === 'sleep')) break;
        assert.ok(Date.now() - started < 30000, `sleep never in the foreground: ${JSON.stringify(sessions)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const other = (await kiln.api('/api/sessions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cols: 90, rows: 30, label: 'from-elsewhere' }) })).body;

      if (profile.phone) await press(await toolButton(page, 'Sessions'), profile);
      else await page.keyboard.press('Control+Shift+KeyS');
      const panel = page.getByRole('dialog', { name: 'Sessions' });
      await panel.getByText('2 sessions on this server.').waitFor();
      const rows = panel.locator('.session-row');
      await waitFor(page, 'the foreground process', () => /sleep/.test(document.querySelector('.session-row')?.textContent ?? ''));
      assert.match(await rows.nth(1).innerText(), /from-elsewhere[\s\S]*90×30[\s\S]*in no other window/);
      const box = await panel.boundingBox();
      assert.ok(onScreen(box, profile), `the panel fits the screen: ${JSON.stringify(box)}`);
      await profileShot(page, 'sessions-panel', profile);
      await press(panel.getByRole('button', { name: 'Show from-elsewhere' }), profile);
      await waitFor(page, 'the attached tab', (id) => window.__kiln.active()?.id === id && window.__kiln.active().state === 'connected', other.id);
      assert.equal((await page.evaluate(() => window.__kiln.tabs())).length, 2);

      await press(await toolButton(page, 'Sessions'), profile);
      await press(panel.getByRole('button', { name: 'Rename from-elsewhere' }), profile);
      const input = panel.getByRole('textbox', { name: 'New name for from-elsewhere' });
      await input.fill('renamed here');
      await input.press('Enter');
      await panel.getByText('renamed here').waitFor();
      await waitFor(page, 'the tab renamed', (id) => window.__kiln.tabs().find((t) => t.id === id)?.label === 'renamed here', other.id);
      assert.equal((await kiln.api(`/api/sessions/${other.id}`)).body.label, 'renamed here');

      await press(panel.getByRole('button', { name: 'End renamed here' }), profile);
      await panel.getByText('1 session on this server.').waitFor();
      await waitFor(page, 'its tab gone', () => window.__kiln.tabs().length === 1);
      assert.equal((await kiln.api(`/api/sessions/${other.id}`)).status, 404);

      page.once('dialog', (d) => void d.accept());
      await press(panel.getByRole('button', { name: 'End all' }), profile);
      await panel.getByText('0 sessions on this server.').waitFor();
      await waitFor(page, 'no tabs', () => window.__kiln.tabs().length === 0);
      assert.deepEqual((await kiln.api('/api/sessions')).body.sessions, []);
      await press(panel.getByRole('button', { name: 'Close' }), profile);
      await page.getByText('No terminals are open.').waitFor();
      assert.deepEqual(await ui.cspViolations(), []);
    }));
  } finally {
    await kiln.stop();
  }
});
