// Browser test of split panes (panes.ts), against the real `kiln serve`: a tab split side by side
// and one above the other, each pane its own shell; focus by shortcut and by click; a divider
// dragged with the mouse and moved with the keyboard; the layout kept by kiln, so a reload and
// another browser get the same panes back; closing a pane; and on a phone the panes stacked
// without widening the page. The desktop items (mouse drags, the pane shortcuts of a physical
// keyboard) run at both desktop profiles, the phone one at both phone profiles
// (support/profiles.mjs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WAIT_MS, openPage, startKiln, toolButton, useBrowser, waitFor, waitForPrompt, waitForState } from './support/kiln.mjs';
import { DESKTOPS, PHONES, eachProfile, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** The strip's entries: their panes' session ids and the focused one. */
const groups = (page) => page.evaluate(() => window.__kiln.groups());

/** Waits until every pane is connected and shows a prompt. */
async function allReady(page, n) {
  await waitFor(
    page,
    `${n} connected panes with prompts`,
    (n) => {
      const tabs = window.__kiln.tabs();
      return tabs.length === n && tabs.every((t) => t.state === 'connected' && /[$#] ?$/.test(window.__kiln.text(t.id).split('\n').pop() ?? ''));
    },
    n,
  );
}

/** Waits until kiln keeps `layout` (a save is debounced and may be in flight). */
async function serverLayout(kiln, layout) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  while (Date.now() < deadline) {
    last = (await kiln.api('/api/settings')).body?.settings?.layout;
    if (JSON.stringify(last) === JSON.stringify(layout)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`kiln keeps ${JSON.stringify(last)}, not ${JSON.stringify(layout)}`);
}

/** Types a line into the focused pane (its terminal has the keyboard). */
async function typeHere(page, text) {
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}

test('split panes: keyboard and mouse, each its own shell, layout kept across browsers', { timeout: 300_000 }, async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, DESKTOPS, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      let again;
      try {
        const { page } = ui;
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        const first = (await page.evaluate(() => window.__kiln.active().id));

        // Ctrl+Shift+E: side by side, a new shell in the new pane, which gets the focus.
        await page.locator('.panel:not(.inactive) .xterm').click();
        await page.keyboard.press('Control+Shift+KeyE');
        await allReady(page, 2);
        let g = await groups(page);
        assert.equal(g.length, 1, 'one strip entry');
        assert.equal(g[0].panes.length, 2);
        const second = g[0].panes[1];
        assert.notEqual(second, first, 'each pane its own session');
        assert.equal(g[0].focused, second);
        assert.equal(await page.locator('.tab-item').count(), 1);
        const [a, b] = [await page.locator('.pane').nth(0).boundingBox(), await page.locator('.pane').nth(1).boundingBox()];
        assert.ok(b.x >= a.x + a.width - 1 && Math.abs(a.y - b.y) < 2, `side by side: ${JSON.stringify([a, b])}`);

        await typeHere(page, 'echo right-$((20+1))');
        await waitFor(page, 'the right pane output', (id) => window.__kiln.text(id).includes('right-21'), second);
        // Ctrl+Shift+Left: the left pane has the keyboard.
        await page.keyboard.press('Control+Shift+ArrowLeft');
        await waitFor(page, 'the left pane focused', (id) => window.__kiln.active()?.id === id, first);
        await typeHere(page, 'echo left-$((40+2))');
        await waitFor(page, 'the left pane output', (id) => window.__kiln.text(id).includes('left-42'), first);
        assert.ok(!(await page.evaluate((id) => window.__kiln.text(id), second)).includes('left-42'), 'nothing typed reached the other pane');

        // The button splits the left pane one above the other.
        await page.getByRole('button', { name: 'Split one above the other' }).click();
        await allReady(page, 3);
        g = await groups(page);
        assert.equal(g[0].panes.length, 3);
        const third = g[0].focused;
        assert.deepEqual(g[0].panes, [first, third, second]);

        // A click focuses a pane.
        await page.locator('.pane').nth(2).locator('.xterm').click();
        await waitFor(page, 'the clicked pane focused', (id) => window.__kiln.active()?.id === id, second);

        // Drag the vertical divider to the left: the right pane gets wider and more columns.
        const colsBefore = await page.evaluate((id) => window.__kiln.tabs().find((t) => t.id === id).cols, second);
        const divider = page.locator('.split.row > .divider');
        const d = await divider.boundingBox();
        await page.mouse.move(d.x + d.width / 2, d.y + d.height / 2);
        await page.mouse.down();
        await page.mouse.move(d.x - 300, d.y + d.height / 2, { steps: 5 });
        await page.mouse.up();
        await waitFor(page, 'the right pane wider', ([id, before]) => window.__kiln.tabs().find((t) => t.id === id).cols > before + 20, [second, colsBefore]);
        // The server's session follows the pane's size.
        await waitFor(page, 'the layout saved', () => JSON.stringify(window.__kiln.settings().stored.layout) === JSON.stringify(window.__kiln.layout()));
        const rowRatio = (await page.evaluate(() => window.__kiln.layout())).tabs[0].ratio;
        assert.ok(rowRatio < 0.4, `ratio ${rowRatio}`);

        // The horizontal divider moves with the arrow keys.
        const hDivider = page.locator('.split.column > .divider');
        await hDivider.focus();
        await page.keyboard.press('ArrowDown');
        await page.keyboard.press('ArrowDown');
        assert.equal(await hDivider.getAttribute('aria-valuenow'), '60');
        await profileShot(page, 'panes', profile);
        await waitFor(page, 'the layout saved', () => JSON.stringify(window.__kiln.settings().stored.layout) === JSON.stringify(window.__kiln.layout()) && !window.__kiln.settings().pending);
        const saved = await page.evaluate(() => window.__kiln.layout());
        await serverLayout(kiln, saved);

        // Another browser (same owner): the same tab with the same three panes and sizes.
        again = await openPage(browser(), kiln.origin, { ...profile.page, signedIn: true });
        await allReady(again.page, 3);
        const g2 = await groups(again.page);
        assert.equal(g2.length, 1);
        assert.deepEqual(g2[0].panes, [first, third, second]);
        const restored = await again.page.evaluate(() => window.__kiln.layout());
        assert.equal(restored.tabs[0].ratio, saved.tabs[0].ratio);
        assert.equal(restored.tabs[0].a.ratio, saved.tabs[0].a.ratio);
        assert.match(await again.page.evaluate((id) => window.__kiln.text(id), first), /left-42/);
        await again.close();
        again = undefined;

        // Closing a pane (Ctrl+Shift+W asks first while the shell runs): its neighbour takes the room.
        await page.locator('.pane').nth(1).locator('.xterm').click();
        await waitFor(page, 'the middle pane focused', (id) => window.__kiln.active()?.id === id, third);
        await page.keyboard.press('Control+Shift+KeyW');
        await page.getByRole('button', { name: 'End shell' }).click();
        await waitFor(page, 'two panes left', () => window.__kiln.groups()[0]?.panes.length === 2);
        assert.equal((await kiln.api(`/api/sessions/${third}`)).status, 404);
        await waitFor(page, 'the layout without it', (id) => !JSON.stringify(window.__kiln.settings().stored.layout).includes(id), third);

        // A new tab beside it is a second strip entry; the shortcuts switch between entries.
        await page.keyboard.press('Control+Shift+KeyT');
        await waitFor(page, 'two strip entries', () => window.__kiln.groups().length === 2);
        await page.keyboard.press('Control+Shift+BracketLeft');
        await waitFor(page, 'back in the split tab', () => window.__kiln.groups()[0].panes.includes(window.__kiln.active()?.id));
        assert.deepEqual(await ui.cspViolations(), []);
        assert.deepEqual(ui.pageErrors, []);
      } finally {
        await again?.close();
      }
    }));
  } finally {
    await kiln.stop();
  }
});

test('split panes on a phone: stacked, nothing widens the page', { timeout: 120_000 }, async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, PHONES, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      const { page } = ui;
      await waitForState(page, 'connected');
      assert.ok(await page.locator('#split-row').isHidden(), 'side by side makes no sense this narrow');
      const split = await toolButton(page, 'Split one above the other');
      const box = await split.boundingBox();
      assert.ok(box.width >= 44 && box.height >= 44, `44 px target: ${JSON.stringify(box)}`);
      await split.tap();
      await allReady(page, 2);
      // A side-by-side split made elsewhere (the shortcut) is stacked here too.
      await page.keyboard.press('Control+Shift+KeyE');
      await allReady(page, 3);
      const boxes = await page.locator('.pane').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON()));
      assert.equal(boxes.length, 3);
      for (const b of boxes) assert.ok(b.left >= 0 && b.right <= 390 && b.height > 40, `pane inside the screen: ${JSON.stringify(b)}`);
      for (let i = 1; i < boxes.length; i++) assert.ok(boxes[i].top >= boxes[i - 1].bottom - 1, 'stacked');
      const tabs = await page.evaluate(() => window.__kiln.tabs());
      for (const t of tabs) assert.ok(t.cols >= 30, `each pane keeps the full width: ${t.cols} columns`);
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 390, `page width ${width}`);
      await profileShot(page, 'panes', profile);
      assert.deepEqual(await ui.cspViolations(), []);
    }));
  } finally {
    await kiln.stop();
  }
});

test('the same shell in two panes: both show it, the layout keeps it, closing one leaves it running', { timeout: 120_000 }, async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, DESKTOPS, (profile) => withProfilePage(browser(), kiln, profile, async (ui) => {
      let again;
      try {
        const { page } = ui;
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        const id = await page.evaluate(() => window.__kiln.active().id);
        await page.locator('.panel:not(.inactive) .xterm').click();
        await page.keyboard.press('Control+Shift+KeyD');
        await waitFor(page, 'two views of one session', (id) => {
          const g = window.__kiln.groups();
          return g.length === 1 && g[0].panes.length === 2 && g[0].panes.every((p) => p === id) && window.__kiln.tabs().every((t) => t.state === 'connected');
        }, id);
        // Typed in the new pane, shown in both.
        await typeHere(page, 'echo twice-$((3*3))');
        await waitFor(page, 'the output in both panes', () => document.querySelectorAll('.pane').length === 2 && [...document.querySelectorAll('.pane .xterm-rows')].every((r) => r.textContent.includes('twice-9')));
        await serverLayout(kiln, await page.evaluate(() => window.__kiln.layout()));

        again = await openPage(browser(), kiln.origin, { ...profile.page, signedIn: true });
        await waitFor(again.page, 'the two views back', (id) => {
          const g = window.__kiln.groups();
          return g.length === 1 && g[0].panes.length === 2 && g[0].panes.every((p) => p === id);
        }, id);
        await again.close();
        again = undefined;

        // Closing one view asks nothing and ends nothing.
        await page.keyboard.press('Control+Shift+KeyW');
        await waitFor(page, 'one pane left', () => window.__kiln.groups()[0]?.panes.length === 1);
        assert.equal(await page.getByRole('button', { name: 'End shell' }).isVisible(), false);
        assert.equal((await kiln.api(`/api/sessions/${id}`)).status, 200);
        await typeHere(page, 'echo still-$((2*5))');
        await waitFor(page, 'the shell still there', () => window.__kiln.text().includes('still-10'));
        await profileShot(page, 'panes-same-shell', profile);
        assert.deepEqual(ui.pageErrors, []);
      } finally {
        await again?.close();
      }
    }));
  } finally {
    await kiln.stop();
  }
});
