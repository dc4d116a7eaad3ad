// Browser tests of keyboard-only use and the key bindings (issue 13): every control of the chrome
// is reachable with Tab, has a name and shows where the focus is; the owner rebinds kiln's
// shortcuts in Settings (kept by kiln, listed in the overlay, conflicts refused with the reason),
// including plain Esc to leave the terminal; and every theme's rendered text/background pairs
// reach WCAG AA (4.5:1), computed from the colours Chromium draws. The Tab walk and the contrast
// run at every profile (desktop and phone, DPR 1 and 2: support/profiles.mjs); the key bindings
// are a physical keyboard's, so they run on a desktop at both DPRs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPage, startEmulator, startKiln, toolButton, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, DESKTOPS, eachProfile, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** Starts kiln; with `token`, kiln holds a token of a fresh emulator, so the status area shows
 *  its chips (they are controls too). `stop()` ends both. */
async function kilnFor({ token = false } = {}) {
  const emu = token ? await startEmulator() : undefined;
  let kiln;
  try {
    kiln = await startKiln(emu ? { env: { DATABRICKS_HOST: emu.host } } : {});
    if (emu) {
      const pat = (await emu.admin('POST', '/tokens', { user: emu.user, lifetime_seconds: 3600 })).token_value;
      const res = await kiln.api('/api/credentials', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: pat }) });
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
  } catch (e) {
    await kiln?.stop();
    await emu?.stop();
    throw e;
  }
  return {
    kiln,
    async stop() {
      await kiln.stop();
      await emu?.stop();
    },
  };
}

/** Waits until the page shows the token's part of the status area. */
function tokenShown(page) {
  return waitFor(page, 'the token chip', () => (window.__kilnStatus?.parts() ?? []).some((p) => p.id === 'credentials-indicator' && p.level === 'ok'));
}

/** Activates the key button of shortcut `id` in the open settings dialog and presses `keys`. */
async function rebind(page, id, keys) {
  const button = page.locator(`#key-${id}`);
  await button.scrollIntoViewIfNeeded();
  await button.click();
  await waitFor(page, 'recording', (bid) => document.getElementById(bid).classList.contains('recording'), `key-${id}`);
  await page.keyboard.press(keys);
  return (await page.locator('.key-message').innerText()).trim();
}

describe('keyboard', () => {
  // A physical keyboard's shortcuts: meaningless on a phone, so both DPRs on a desktop.
  test('key bindings: rebind, refuse conflicts with the reason, show in the overlay, kept by kiln', async (t) => {
    const { kiln, stop } = await kilnFor();
    try {
      await eachProfile(t, DESKTOPS, (profile) => withProfilePage(browser(), kiln, profile, async ({ page, cspViolations }) => {
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        await page.getByRole('button', { name: 'Got it' }).click();
        await page.locator('#settings-open').click();
        const dialog = page.getByRole('dialog', { name: 'Settings' });
        await dialog.waitFor();
        await dialog.getByRole('group', { name: 'Key bindings' }).waitFor();

        // Conflicts and keys the shell needs are refused, saying why; nothing is stored.
        assert.match(await rebind(page, 'new-tab', 'Control+Shift+S'), /^Not changed: Ctrl\+Shift\+S is already the key for “sessions/);
        assert.match(await rebind(page, 'new-tab', 'Control+C'), /^Not changed: Ctrl\+C belongs to the terminal's programs/);
        assert.match(await rebind(page, 'new-tab', 'Control+Shift+V'), /^Not changed: Ctrl\+Shift\+V is kiln's key for paste/);
        assert.match(await rebind(page, 'new-tab', 'KeyN'), /^Not changed: N types into the terminal/);
        assert.equal(await page.locator('#key-new-tab').innerText(), 'Ctrl+Shift+T');
        assert.equal((await kiln.api('/api/settings')).body.settings.keys, undefined);

        // A free combination is taken, and plain Esc may leave the terminal (the owner's choice).
        assert.match(await rebind(page, 'new-tab', 'Control+Alt+KeyN'), /is now Ctrl\+Alt\+N/);
        assert.match(await rebind(page, 'leave', 'Escape'), /is now Esc/);
        assert.equal(await page.locator('#key-new-tab').innerText(), 'Ctrl+Alt+N');
        // Esc while recording was the new key, so the dialog is still open.
        assert.ok(await dialog.isVisible());
        await waitFor(page, 'saved', () => !window.__kiln.settings().pending && window.__kiln.settings().stored.keys?.leave === 'Esc');
        assert.deepEqual((await kiln.api('/api/settings')).body.settings.keys, { 'new-tab': 'Ctrl+Alt+N', leave: 'Esc' });
        await profileShot(page, 'keyboard-key-bindings', profile);
        await dialog.getByRole('button', { name: 'Done' }).click();
        await dialog.waitFor({ state: 'hidden' });

        // In the terminal: the new keys act, the old one no longer does, and the shell saw none.
        await page.locator('.panel:not(.inactive) .xterm').click();
        await page.keyboard.press('Control+Alt+KeyN');
        await waitFor(page, 'two tabs', () => window.__kiln.tabs().length === 2);
        await waitForPrompt(page);
        await page.keyboard.press('Escape');
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'tab');
        await page.keyboard.press('Enter');
        await typeLine(page, 'echo bound-keys-ok');
        await waitForLine(page, 'bound-keys-ok');
        assert.doesNotMatch(await page.evaluate(() => window.__kiln.text()), /\x1b|\^\[/);

        // The overlay lists what is bound.
        await page.keyboard.press('Control+Slash');
        const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
        await help.waitFor();
        const rows = await help.innerText();
        assert.match(rows, /Ctrl\+Alt\+N\s+new tab/);
        assert.match(rows, /Esc\s+leave the terminal/);
        assert.doesNotMatch(rows, /Ctrl\+Shift\+T\s+new tab/);
        await help.getByRole('button', { name: 'Close' }).click();

        // Another browser of the same owner gets the same keys; Default keys restores them.
        const other = await openPage(browser(), `${kiln.origin}/`, { ...profile.page, signedIn: true });
        try {
          await waitForState(other.page, 'connected');
          await waitFor(other.page, 'the keys loaded', () => window.__kiln.settings().stored.keys?.['new-tab'] === 'Ctrl+Alt+N');
          await other.page.locator('#settings-open').click();
          assert.equal(await other.page.locator('#key-new-tab').innerText(), 'Ctrl+Alt+N');
          await other.page.locator('#keys-reset').click();
          assert.equal(await other.page.locator('#key-new-tab').innerText(), 'Ctrl+Shift+T');
          await waitFor(other.page, 'saved', () => !window.__kiln.settings().pending && window.__kiln.settings().stored.keys === undefined);
          assert.equal((await kiln.api('/api/settings')).body.settings.keys, undefined);
        } finally {
          await other.close();
        }
        // kiln refuses garbage bindings with a clear message.
        const bad = await kiln.api('/api/settings', { method: 'PUT', body: JSON.stringify({ keys: { 'new-tab': 42 } }), headers: { 'content-type': 'application/json' } });
        assert.equal(bad.status, 400);
        assert.match(JSON.stringify(bad.body), /key combination/);
        assert.deepEqual(await cspViolations(), []);
      }));
    } finally {
      await stop();
    }
  });

  test('every control is reachable with Tab and shows its focus', async (t) => {
    const { kiln, stop } = await kilnFor({ token: true });
    try {
      await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
        const { phone, id: name } = profile;
        await tokenShown(page);
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        // Leave the terminal with the documented key, then walk the page with Tab.
        await page.locator('.panel:not(.inactive) .xterm').click();
        await page.keyboard.press('Control+Escape');
        assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('role')), 'tab');
        const reached = new Set();
        const noFocusRing = [];
        for (let i = 0; i < 80; i++) {
          const el = await page.evaluate(() => {
            const a = document.activeElement;
            if (!a || a === document.body) return null;
            if (!a.id) a.id = `kbd-${Math.random().toString(36).slice(2)}`;
            const s = getComputedStyle(a);
            const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 1) || (s.boxShadow && s.boxShadow !== 'none');
            return { id: a.id, ring, inTerminal: !!a.closest('.xterm'), what: a.getAttribute('aria-label') || a.textContent?.trim().slice(0, 30) || a.tagName };
          });
          if (el && !el.inTerminal) {
            reached.add(el.id);
            if (!el.ring) noFocusRing.push(el.what);
          }
          await page.keyboard.press('Tab');
        }
        // The walk ends in a terminal (Tab is then the shell's; the leave key comes back out).
        assert.ok(await page.evaluate(() => !!document.activeElement?.closest('.xterm')), 'Tab ends in the terminal');
        // Every visible control outside the terminals and closed dialogs (the drawer's tools on a
        // phone are behind the ⋯ button: reached through it, checked below).
        const controls = await page.evaluate(() => {
          const out = [];
          for (const el of document.querySelectorAll('button, a[href], input, select, textarea, [tabindex]')) {
            if (el.closest('.xterm, dialog:not([open])')) continue;
            if (el.disabled || el.getAttribute('tabindex') === '-1') continue;
            const r = el.getBoundingClientRect();
            const s = getComputedStyle(el);
            if (r.width === 0 || r.height === 0 || s.visibility === 'hidden') continue;
            if (!el.id) el.id = `kbd-${Math.random().toString(36).slice(2)}`;
            // Its accessible name: aria-label, aria-labelledby, a <label>, or its text.
            const labelledBy = (el.getAttribute('aria-labelledby') ?? '').split(/\s+/).map((i) => document.getElementById(i)?.textContent ?? '').join(' ');
            const name = (el.getAttribute('aria-label') || labelledBy || [...(el.labels ?? [])].map((l) => l.textContent).join(' ') || el.textContent || el.getAttribute('title') || '').trim();
            out.push({ id: el.id, name, what: el.getAttribute('aria-label') || el.textContent?.trim().slice(0, 30) || el.outerHTML.slice(0, 60) });
          }
          return out;
        });
        assert.ok(controls.length >= 5, `controls found: ${controls.length}`);
        assert.ok(controls.some((c) => c.id === (phone ? 'state-summary' : 'credentials-indicator')), `the status area is among the controls (${name})`);
        assert.deepEqual(controls.filter((c) => !c.name).map((c) => c.what), [], `controls without a name (${name})`);
        const missed = controls.filter((c) => !reached.has(c.id)).map((c) => c.what);
        assert.deepEqual(missed, [], `not reachable with Tab (${name})`);
        assert.deepEqual(noFocusRing, [], `focus not visible (${name})`);
        if (phone) {
          // The drawer opens from the keyboard and its tools are then reachable too.
          await page.locator('#tools-toggle').focus();
          await page.keyboard.press('Enter');
          await page.keyboard.press('Tab');
          assert.ok(await page.evaluate(() => !!document.activeElement?.closest('#tools')), 'Tab goes into the opened drawer');
        }
        await profileShot(page, 'keyboard-focus', profile);
      }));
    } finally {
      await stop();
    }
  });

  // Measured at every profile: the phone layout shows other parts (the key row, the summary
  // button) and a DPR of 2 draws the text with other antialiasing.
  test('every theme: rendered text/background pairs reach 4.5:1', async (t) => {
    const { kiln, stop } = await kilnFor({ token: true });
    try {
      await eachProfile(t, ALL, (profile) => withProfilePage(browser(), kiln, profile, async ({ page }) => {
        await tokenShown(page);
        await waitForState(page, 'connected');
        await waitForPrompt(page);
        await typeLine(page, 'echo contrast');
        await waitForLine(page, 'contrast');
        await page.evaluate(() => window.__kiln.notify('A notice to measure the contrast of', 'info'));
        const themes = await page.locator('#set-theme option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
        assert.ok(themes.length >= 8, `themes: ${themes.length}`);
        const failures = [];
        for (const id of themes) {
          await press(await toolButton(page, 'Settings'), profile);
          await page.locator('#set-theme').selectOption(id);
          await waitFor(page, 'theme applied', (t) => window.__kiln.settings().theme === t, id);
          // The dialogs are in the theme's colours too: the settings dialog, measured open (its
          // own text only: the page behind is dimmed by the backdrop).
          const inDialog = await page.evaluate(measureContrast, '#settings-dialog');
          assert.ok(inDialog.some((p) => /Theme/.test(p.text)), `${id}: the settings dialog was measured`);
          for (const p of inDialog) if (p.ratio < 4.5) failures.push(`${id}: ${p.what} ${p.fg} on ${p.bg} = ${p.ratio.toFixed(2)}`);
          await press(page.getByRole('button', { name: 'Done' }), profile);
          // On a phone the tools are in the ⋯ drawer: measured open.
          if (profile.phone) await page.getByRole('button', { name: 'More tools' }).tap();
          const pairs = await page.evaluate(measureContrast);
          if (profile.phone) {
            assert.ok(pairs.some((p) => p.what.includes('#help-open')), `${id}: the drawer's ? button was measured`);
            await page.keyboard.press('Escape');
            await page.locator('#tools').waitFor({ state: 'hidden' });
          }
          assert.ok(pairs.length >= 6, `${id}: only ${pairs.length} text elements measured`);
          assert.ok(pairs.some((p) => p.terminal && /echo contrast/.test(p.text)), `${id}: the terminal's text was measured`);
          assert.ok(pairs.some((p) => p.what.includes('#notice')), `${id}: the notice was measured`);
          const part = profile.phone ? '.state-summary-text' : '#credentials-indicator';
          assert.ok(pairs.some((p) => p.what.includes(part)), `${id}: the status area (${part}) was measured`);
          for (const p of pairs) if (p.ratio < 4.5) failures.push(`${id}: ${p.what} ${p.fg} on ${p.bg} = ${p.ratio.toFixed(2)}`);
          if (id === 'kiln-light' || id === 'kiln-dark') await profileShot(page, `keyboard-contrast-${id}`, profile);
        }
        assert.deepEqual(failures, []);
      }, { query: '?renderer=dom' }));
    } finally {
      await stop();
    }
  });
});

/** In the page: every visible text of the chrome and the terminal (or of the element `root`, a
 *  selector) with its colour, its effective background and their contrast. */
function measureContrast(root) {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a), g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) {
        layers.push(c);
        if (c.a >= 1) break;
      }
    }
    let bg = { r: 255, g: 255, b: 255, a: 1 };
    for (const l of layers.reverse()) bg = over(l, bg);
    return bg;
  };
  const lum = ({ r, g, b }) => {
    const f = (v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const hex = ({ r, g, b }) => `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})`;
  const out = [];
  const seen = new Set();
  const walker = document.createTreeWalker(root ? document.querySelector(root) : document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || seen.has(el) || el.closest('button:disabled') || el.closest('dialog:not([open]), [hidden], .xterm-helpers, .xterm-accessibility')) continue;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    if (r.width === 0 || r.height === 0 || s.visibility === 'hidden' || s.display === 'none' || parseFloat(s.opacity) === 0) continue;
    // Text of the terminal's rows: the cells with the default colours (programs choose others).
    if (el.closest('.xterm-rows') && el.className && /xterm-(fg|bg)-/.test(el.className)) continue;
    seen.add(el);
    const fgc = parse(s.color);
    if (!fgc) continue;
    const bg = background(el);
    const fg = over(fgc, bg);
    out.push({ terminal: !!el.closest('.xterm-rows'), text: n.textContent, what: `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}.${el.className || ''} “${n.textContent.trim().slice(0, 24)}”`, fg: hex(fg), bg: hex(bg), ratio: ratio(fg, bg) });
  }
  return out;
}
