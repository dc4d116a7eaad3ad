// Browser test of the scrollback that comes back after a reload: a session with up to 2 MiB of
// output is replayed whole (every line of `seq 1 3000`, not just the last 200 a snapshot holds),
// at the session's size, then fitted; a larger one comes back as a snapshot, screen intact. The
// output is made once; the page that comes back to it is opened at every profile in turn
// (support/profiles.mjs), each a new browser at another size than the one before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage, startKiln, typeLine, useBrowser, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, profileShot } from './support/profiles.mjs';

const browser = useBrowser();

test('a reload brings back the whole scrollback', { timeout: 240_000 }, async (t) => {
  const kiln = await startKiln();
  let ui;
  try {
    ui = await openPage(browser(), kiln.url, { viewport: { width: 1200, height: 700 } });
    await waitForState(ui.page, 'connected');
    await waitForPrompt(ui.page);
    await typeLine(ui.page, 'seq 1 3000; echo done-$((2*3))');
    await waitForLine(ui.page, 'done-6');
    await ui.close();
    ui = undefined;

    // Another page (a reload, a new browser): every line is there, in order, once.
    await eachProfile(t, ALL, async (profile) => {
      const again = await openPage(browser(), kiln.origin, { ...profile.page, signedIn: true });
      try {
        const { page } = again;
        await waitForState(page, 'connected');
        await waitForLine(page, 'done-6');
        const lines = (await page.evaluate(() => window.__kiln.text())).split('\n');
        const numbers = lines.filter((l) => /^\d+$/.test(l)).map(Number);
        assert.equal(numbers.length, 3000, 'all 3000 lines');
        assert.deepEqual(numbers.slice(0, 3), [1, 2, 3]);
        assert.equal(numbers[2999], 3000);
        // The terminal works on, at the page's size.
        await waitForPrompt(page);
        await typeLine(page, `echo $((6*7))-after-${profile.id}`);
        await waitForLine(page, `42-after-${profile.id}`);
        await profileShot(page, 'scrollback-replayed', profile);
        assert.deepEqual(again.pageErrors, []);
      } finally {
        await again.close();
      }
    });
  } finally {
    await ui?.close();
    await kiln.stop();
  }
});

test('a session with more output than is replayed comes back as a snapshot', { timeout: 240_000 }, async (t) => {
  const kiln = await startKiln();
  let ui;
  try {
    ui = await openPage(browser(), kiln.url);
    await waitForState(ui.page, 'connected');
    await waitForPrompt(ui.page);
    // About 2.9 MB of output, more than the 2 MiB replayed.
    await typeLine(ui.page, 'seq 1 400000; echo big-$((2*4))');
    await waitForLine(ui.page, 'big-8');
    await ui.close();
    ui = undefined;
    const [session] = (await kiln.api('/api/sessions')).body.sessions;
    assert.ok(session.offset > 2 << 20, `output ${session.offset}`);

    await eachProfile(t, ALL, async (profile) => {
      const again = await openPage(browser(), kiln.origin, { ...profile.page, signedIn: true });
      try {
        const { page } = again;
        await waitForState(page, 'connected');
        await waitForLine(page, 'big-8');
        const lines = (await page.evaluate(() => window.__kiln.text())).split('\n');
        assert.ok(lines.includes('400000'), 'the last lines are there');
        assert.ok(!lines.includes('1'), 'the start is not replayed');
        await waitForPrompt(page);
        await typeLine(page, `echo $((5*5))-after-${profile.id}`);
        await waitForLine(page, `25-after-${profile.id}`);
        await profileShot(page, 'scrollback-snapshot', profile);
      } finally {
        await again.close();
      }
    });
  } finally {
    await ui?.close();
    await kiln.stop();
  }
});
