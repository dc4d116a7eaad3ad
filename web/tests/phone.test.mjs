// Browser tests of the phone layout (390x844, touch): the extra-keys row sends what an on-screen
// keyboard lacks, its sticky Ctrl turns the next typed key into a control character (Ctrl+C
// interrupts `sleep`), every control is a 44 px target, and the page follows the visual viewport
// (the on-screen keyboard) so the prompt stays in view. Phone items: each runs at both phone
// profiles (support/profiles.mjs, DPR 1 and 2).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  startKiln,
  typeLine,
  useBrowser,
  waitFor,
  waitForLine,
  waitForPrompt,
  waitForState,
} from './support/kiln.mjs';
import { PHONES, PROFILES, eachProfile, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** Runs `body(kiln, ui, profile)` at both phone profiles, with one kiln for both. */
async function atPhones(t, body) {
  const kiln = await startKiln();
  try {
    await eachProfile(t, PHONES, (profile) => withProfilePage(browser(), kiln, profile, (ui) => body(kiln, ui, profile)));
  } finally {
    await kiln.stop();
  }
}

const key = (page, name) => page.getByRole('toolbar', { name: 'Extra keys' }).getByRole('button', { name, exact: true });

describe('phone', () => {
  for (const profile of PHONES.map((id) => PROFILES[id])) {
    test(`Ctrl+C from the phone key row interrupts sleep (${profile.id}: ${profile.label})`, async () => {
      const kiln = await startKiln();
      try {
        await withProfilePage(browser(), kiln, profile, async ({ page }) => {
          await waitForState(page, 'connected');
          await waitForPrompt(page);
          await typeLine(page, 'sleep 600; echo sleep-was-not-interrupted');
          await waitFor(page, 'sleep to run', () => /sleep 600/.test(window.__kiln.text()));
          await key(page, 'Ctrl').tap();
          assert.equal(await key(page, 'Ctrl').getAttribute('aria-pressed'), 'true');
          // The terminal kept the focus: the next key comes from the (on-screen) keyboard.
          await page.keyboard.type('c');
          await waitFor(page, 'the prompt after ^C', () => {
            const lines = window.__kiln.text().split('\n');
            return lines.some((l) => l.includes('^C')) && /[$#] ?$/.test(lines[lines.length - 1]);
          });
          assert.equal(await key(page, 'Ctrl').getAttribute('aria-pressed'), 'false');
          await typeLine(page, 'echo "status $?"');
          await waitForLine(page, 'status 130');
          assert.doesNotMatch(await page.evaluate(() => window.__kiln.text()), /sleep-was-not-interrupted\n/);
          await profileShot(page, 'phone-keys', profile);
        });
      } finally {
        await kiln.stop();
      }
    });
  }

  test('arrows, pipe and dash from the row; 44 px targets; nothing off screen', async (t) => {
    await atPhones(t, async (_kiln, { page }, profile) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await page.locator('.panel:not(.inactive) .xterm').tap();
      // "echo ac", Left, "b", Right: the cursor keys moved the insertion point.
      await page.keyboard.type('echo ac');
      await key(page, 'Left').tap();
      await page.keyboard.type('b');
      await key(page, 'Right').tap();
      await page.keyboard.type(' ');
      await key(page, 'Pipe').tap();
      await page.keyboard.type(' tr a');
      await key(page, 'Dash').tap();
      await page.keyboard.type('z A');
      await key(page, 'Dash').tap();
      await page.keyboard.type('Z');
      await page.keyboard.press('Enter');
      await waitForLine(page, 'ABC');
      // Up recalls the last command.
      await key(page, 'Up').tap();
      await waitFor(page, 'the recalled command', () => window.__kiln.text().split('\n').pop().includes('echo abc | tr a-z A-Z'));
      await key(page, 'Ctrl').tap();
      await page.keyboard.type('u'); // Ctrl+U clears the line
      await waitFor(page, 'an empty prompt', () => /[$#] ?$/.test(window.__kiln.text().split('\n').pop()));
      const small = await page.evaluate(() =>
        [...document.querySelectorAll('button')]
          .filter((b) => b.offsetParent !== null)
          .map((b) => ({ name: b.getAttribute('aria-label') ?? b.textContent.trim(), r: b.getBoundingClientRect() }))
          .filter(({ r }) => r.width < 44 || r.height < 44)
          .map(({ name, r }) => `${name} ${r.width}x${r.height}`),
      );
      assert.deepEqual(small, []);
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth));
      // Every key of the row is on screen, none scrolled out of sight past the right edge.
      const outside = await page.evaluate(() =>
        [...document.querySelectorAll('.extra-key')]
          .map((b) => ({ name: b.getAttribute('aria-label') ?? b.textContent, r: b.getBoundingClientRect() }))
          .filter(({ r }) => r.left < 0 || r.right > window.innerWidth + 0.5 || r.top < 0 || r.bottom > window.innerHeight + 0.5)
          .map(({ name, r }) => `${name} at ${r.left}..${r.right}`),
      );
      assert.equal(await page.locator('.extra-key').count(), 12);
      assert.deepEqual(outside, [], 'extra keys off screen');
      await profileShot(page, 'phone-arrows', profile);
    });
  });

  test('the app follows the visual viewport (an on-screen keyboard shrinks the terminal)', async (t) => {
    await atPhones(t, async (_kiln, { page }, profile) => {
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      const rowsBefore = (await page.evaluate(() => window.__kiln.active())).rows;
      const notice = page.locator('#first-run');
      const noticeMore = notice.locator('.first-run-more');
      assert.ok(await noticeMore.isVisible(), 'the whole first-run notice at full height');
      const fullNotice = (await notice.boundingBox()).height;
      // What an on-screen keyboard does: the visual viewport gets shorter than the layout one.
      await page.setViewportSize({ width: 390, height: 500 });
      await waitFor(page, 'fewer rows', (r) => window.__kiln.active().rows < r, rowsBefore);
      // The first-run notice shrinks to its title and button, on one line.
      await waitFor(page, 'the short notice', () => !document.querySelector('.first-run-more').checkVisibility());
      assert.ok(await notice.getByText('These are real shells, with your authority.').isVisible());
      assert.ok(await notice.getByRole('button', { name: 'Got it' }).isVisible());
      const shortNotice = (await notice.boundingBox()).height;
      assert.ok(shortNotice <= 64 && shortNotice < fullNotice / 2, `notice ${fullNotice} -> ${shortNotice} px`);
      const app = await page.evaluate(() => document.getElementById('app').getBoundingClientRect().height);
      assert.ok(app <= 500, `app height ${app}`);
      await typeLine(page, 'echo prompt-visible');
      await waitForLine(page, 'prompt-visible');
      // The cursor row is inside the visible part of the page.
      const visible = await page.evaluate(() => {
        const screen = document.querySelector('.panel:not(.inactive) .xterm-screen').getBoundingClientRect();
        return screen.bottom <= window.visualViewport.height + 1;
      });
      assert.ok(visible);
      await profileShot(page, 'phone-on-screen-keyboard', profile);
    });
  });
});
