// Browser tests of the UI's defects found by trying it as a new user would: renaming a tab never
// types into the shell, the page never widens (20 tabs, a 300-character notice) at desktop and
// phone sizes at DPR 1 and 2 and at every width from 320 px up, tabs past the session limit leave
// no dead tabs, keyboard focus can leave the terminal and come back, and Enter after closing the
// last tab opens a new one. Each item runs at every profile (support/profiles.mjs: desktop and
// phone, DPR 1 and 2), but the keyboard focus one, a physical keyboard's, at both desktop DPRs,
// and the width sweep, which sets its own widths, with a mouse at DPR 1 and touch at DPR 2.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  openPage,
  startKiln,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
} from './support/kiln.mjs';
import { ALL, DESKTOPS, PROFILES, eachProfile, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

async function withKiln(options, body) {
  const kiln = await startKiln(options.kiln ?? {});
  let ui;
  try {
    ui = await openPage(browser(), kiln.url, options.page ?? {});
    await body(kiln, ui);
  } finally {
    await ui?.close();
    await kiln.stop();
  }
}

/** In the page: whether nothing is wider than the viewport (the terminal included). */
function overflowFree() {
  const vw = window.innerWidth;
  if (document.documentElement.scrollWidth > vw || document.body.scrollWidth > vw) return false;
  for (const el of document.querySelectorAll('.topbar, .statusbar, .panels, .panel:not(.inactive)')) {
    if (el.getBoundingClientRect().right > vw + 0.5) return false;
  }
  const panel = document.querySelector('.panel:not(.inactive)');
  const screen = panel?.querySelector('.xterm-screen');
  return !(panel && screen && screen.getBoundingClientRect().right > panel.getBoundingClientRect().right + 0.5);
}

/** In the page: whether the active terminal ends above its panel's bottom (after a refit: the
 *  panel shrinks at once when the status bar grows, the terminal follows debounced). */
function fitsHeight() {
  const panel = document.querySelector('.panel:not(.inactive)').getBoundingClientRect();
  const screen = document.querySelector('.panel:not(.inactive) .xterm-screen').getBoundingClientRect();
  return screen.bottom <= panel.bottom + 0.5;
}

/** In the page: whether the active tab's strip entry is wholly inside the strip's visible part. */
function activeTabInView() {
  const strip = document.getElementById('tabs').getBoundingClientRect();
  const tab = document.querySelector('#tabs [role="tab"][aria-selected="true"]').closest('.tab-item').getBoundingClientRect();
  return tab.left >= strip.left - 0.5 && tab.right <= strip.right + 0.5;
}

/** The page's width problems: anything wider than the viewport, terminals wider than their panel. */
function overflow() {
  const vw = window.innerWidth;
  const problems = [];
  if (document.documentElement.scrollWidth > vw) problems.push(`page ${document.documentElement.scrollWidth} > ${vw}`);
  if (document.body.scrollWidth > vw) problems.push(`body ${document.body.scrollWidth} > ${vw}`);
  for (const el of document.querySelectorAll('.topbar, .statusbar, .panels, .panel:not(.inactive)')) {
    const r = el.getBoundingClientRect();
    if (r.right > vw + 0.5) problems.push(`${el.className} ends at ${r.right}`);
  }
  const panel = document.querySelector('.panel:not(.inactive)');
  const screen = panel?.querySelector('.xterm-screen');
  if (panel && screen && screen.getBoundingClientRect().right > panel.getBoundingClientRect().right + 0.5) {
    problems.push(`terminal ends at ${screen.getBoundingClientRect().right}, panel at ${panel.getBoundingClientRect().right}`);
  }
  return problems;
}

describe('layout and focus', () => {
  test('the renamed-tab text never reaches the shell', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        await page.locator('.tab-item').first().locator('.tab-label').dblclick();
        const input = page.getByRole('textbox', { name: 'New name for this tab' });
        await input.waitFor();
        await input.press('Control+a');
        // Typed key by key, Space and all, as a user would.
        await page.keyboard.type('zq renamed probe');
        await profileShot(page, 'layout-rename', profile);
        await page.keyboard.press('Enter');
        await waitFor(page, 'the new label', () => window.__kiln.tabs()[0].label === 'zq renamed probe');
        const id = (await page.evaluate(() => window.__kiln.active())).id;
        assert.equal((await kiln.api(`/api/sessions/${id}`)).body.label, 'zq renamed probe');
        // Focus went back to the tab, not the shell; the shell saw none of it.
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'tab');
        await typeLine(page, 'echo marker-after-rename');
        await waitForLine(page, 'marker-after-rename');
        const text = await page.evaluate(() => window.__kiln.text());
        assert.doesNotMatch(text, /renamed|probe|zq/);
        // F2 renames from the keyboard too; Escape cancels without typing anything.
        await page.getByRole('tab', { selected: true }).focus();
        await page.keyboard.press('F2');
        await page.keyboard.type('not this');
        await page.keyboard.press('Escape');
        await waitFor(page, 'the rename field to go', () => !document.querySelector('.tab-rename'));
        assert.equal((await page.evaluate(() => window.__kiln.tabs()))[0].label, 'zq renamed probe');
        assert.doesNotMatch(await page.evaluate(() => window.__kiln.text()), /not this/);
      }));
    } finally {
      await kiln.stop();
    }
  });

  for (const profile of ALL.map((id) => PROFILES[id])) {
    test(`20 tabs and a 300-character notice never widen the page (${profile.id}: ${profile.label})`, async () => {
      await withKiln({ kiln: { args: ['--max-sessions', '32'] }, page: profile.page }, async (_kiln, { page }) => {
        await waitForState(page, 'connected');
        for (let n = 2; n <= 20; n++) {
          await page.getByRole('button', { name: 'New terminal' }).click();
          await waitFor(page, `${n} tabs connected`, (n) => {
            const tabs = window.__kiln.tabs();
            return tabs.length === n && tabs[n - 1].state === 'connected';
          }, n);
        }
        await page.evaluate(() => window.__kiln.notify('x'.repeat(150) + ' ' + 'long-word-'.repeat(15), 'error'));
        await waitFor(page, 'the notice', () => document.getElementById('notice').textContent.length > 290);
        assert.deepEqual(await page.evaluate(overflow), []);
        // The notice made the status bar taller: the terminal refits to the shorter panel (the
        // refit is debounced, so until then it may reach into the key row or the status bar).
        await waitFor(page, 'the terminal refitted in height', fitsHeight);
        // The terminal fills the visible width, not a wider page: its columns fit the panel.
        await waitForPrompt(page);
        const fit = await page.evaluate(() => {
          const panel = document.querySelector('.panel:not(.inactive)').getBoundingClientRect();
          const screen = document.querySelector('.panel:not(.inactive) .xterm-screen').getBoundingClientRect();
          return { panel: panel.width, screen: screen.width, cols: window.__kiln.active().cols };
        });
        assert.ok(fit.screen <= fit.panel, JSON.stringify(fit));
        assert.ok(fit.screen > fit.panel * 0.8, `the terminal uses the width: ${JSON.stringify(fit)}`);
        // Every control of the top bar stays on screen.
        const offscreen = await page.evaluate(() =>
          [...document.querySelectorAll('.topbar > button, .topbar > .toolbar button')]
            .filter((b) => b.offsetParent !== null)
            .filter((b) => b.getBoundingClientRect().right > window.innerWidth + 0.5)
            .map((b) => b.getAttribute('aria-label') ?? b.textContent),
        );
        assert.deepEqual(offscreen, []);
        await profileShot(page, 'layout-20-tabs', profile);
        // The rest of the tabs scroll into view when chosen from the keyboard.
        await page.getByRole('tab', { selected: true }).focus();
        await page.keyboard.press('Home');
        await waitFor(page, 'the first tab active', () => window.__kiln.tabs()[0].active);
        assert.deepEqual(await page.evaluate(overflow), []);
      });
    });
  }

  // The sweep sets the widths itself: the profiles give it a mouse at DPR 1 and a touch screen
  // (44 px targets) at DPR 2, the two ends of what changes the layout besides the width.
  test('every width from 320 px up: 12 tabs and a 300-character notice never widen the page', async (t) => {
    const kiln = await startKiln({ args: ['--max-sessions', '32'] });
    try {
      await eachProfile(t, ['desktop1', 'phone2'], (profile) =>
        withProfilePage(browser(), kiln, profile, async ({ page }) => {
          await waitForState(page, 'connected');
          for (let n = 2; n <= 12; n++) {
            await page.getByRole('button', { name: 'New terminal' }).click();
            await waitFor(page, `${n} tabs connected`, (n) => {
              const tabs = window.__kiln.tabs();
              return tabs.length === n && tabs[n - 1].state === 'connected';
            }, n);
          }
          await page.evaluate(() => window.__kiln.notify('y'.repeat(150) + ' ' + 'long-word-'.repeat(15), 'error'));
          for (const width of [320, 360, 414, 480, 599, 600, 699, 700, 768, 1024, 1280, 1920]) {
            await page.setViewportSize({ width, height: 800 });
            // The terminal refits after the resize: wait for that, then nothing may stick out.
            const problems = await waitFor(page, `no overflow at ${width} px`, overflowFree).then(
              () => [],
              () => page.evaluate(overflow),
            );
            assert.deepEqual(problems, [], `at ${width} px`);
            await waitFor(page, `the terminal's height refitted at ${width} px`, fitsHeight);
            await waitFor(page, `the active tab wholly in view at ${width} px`, activeTabInView);
            if (width === 320) await profileShot(page, 'layout-12-tabs-320px', profile);
          }
        }),
      );
    } finally {
      await kiln.stop();
    }
  });

  test('past the session limit: one clear message, no dead tabs', async (t) => {
    const kiln = await startKiln({ args: ['--max-sessions', '2'] });
    try {
      await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
        await waitForState(page, 'connected');
        await page.getByRole('button', { name: 'New terminal' }).click();
        await waitFor(page, 'two tabs connected', () => window.__kiln.tabs().filter((t) => t.state === 'connected').length === 2);
        for (let i = 0; i < 3; i++) {
          await page.getByRole('button', { name: 'New terminal' }).click();
          await waitFor(page, 'the refusal', () => /session limit/.test(document.getElementById('notice').textContent));
          await waitFor(page, 'two tabs again', () => window.__kiln.tabs().length === 2);
          if (i === 0) {
            assert.deepEqual(await page.evaluate(overflow), [], 'the refusal widens nothing');
            await waitFor(page, 'the terminal refitted under the taller status bar', fitsHeight);
            await profileShot(page, 'layout-session-limit', profile);
          }
          await page.evaluate(() => window.__kiln.notify(''));
        }
        const tabs = await page.evaluate(() => window.__kiln.tabs());
        assert.deepEqual(tabs.map((t) => t.state), ['connected', 'connected']);
        assert.equal(tabs.filter((t) => t.active).length, 1);
        assert.equal((await kiln.api('/api/sessions')).body.sessions.length, 2);
        // The active tab still works.
        await waitForPrompt(page);
        await typeLine(page, 'echo still-works');
        await waitForLine(page, 'still-works');
      }));
    } finally {
      await kiln.stop();
    }
  });

  // A physical keyboard's: meaningless on a phone, so both DPRs on a desktop.
  test('keyboard: Ctrl+Esc leaves the terminal, close buttons are reachable, Enter after the last close opens a new tab', async (t) => {
    const kiln = await startKiln();
    try {
      await eachProfile(t, DESKTOPS, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        await typeLine(page, 'echo focus-test');
        await waitForLine(page, 'focus-test');
        await page.keyboard.press('Control+Escape');
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'tab');
        // Tab moves on to the tab's close button, which has a name and ends the shell.
        await page.keyboard.press('Tab');
        assert.match(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), /^Close shell 1/);
        await page.keyboard.press('Enter');
        await page.getByRole('button', { name: 'End shell' }).waitFor();
        // The dialog starts on Cancel (the safe choice); Tab reaches End shell.
        await page.keyboard.press('Tab');
        await page.keyboard.press('Enter');
        await waitFor(page, 'no tabs', () => window.__kiln.tabs().length === 0);
        assert.equal(await page.evaluate(() => document.activeElement?.id), 'empty-new');
        await page.keyboard.press('Enter');
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        // The new terminal has the focus: typing reaches its shell.
        await page.keyboard.type('echo typed-into-new');
        await page.keyboard.press('Enter');
        await waitForLine(page, 'typed-into-new');
        assert.equal((await kiln.api('/api/sessions')).body.sessions.length, 1);
        await profileShot(page, 'layout-keyboard-new-tab', profile);
      }));
    } finally {
      await kiln.stop();
    }
  });
});
