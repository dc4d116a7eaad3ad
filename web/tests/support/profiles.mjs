// The screen profiles every browser test of the UI runs at (issue 13: desktop and phone sizes,
// device pixel ratios 1 and 2), and the helpers that run a test body once per profile as node:test
// subtests named after the profile, with a screenshot per profile in target/web-test-artifacts.
// Not a test file itself (node --test only runs *.test.mjs here).
import { openPage, saveScreenshot } from './kiln.mjs';

const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };

/**
 * The four profiles. `page` is what `openPage` takes (viewport, device pixel ratio, touch and
 * mobile emulation); `phone` says whether the phone layout is expected (touch, under 600 px);
 * `id` names subtests and screenshots.
 */
export const PROFILES = Object.freeze({
  desktop1: { id: 'desktop1', label: 'desktop 1440×900, DPR 1', phone: false, dpr: 1, page: { viewport: DESKTOP, deviceScaleFactor: 1, hasTouch: false, isMobile: false } },
  desktop2: { id: 'desktop2', label: 'desktop 1440×900, DPR 2', phone: false, dpr: 2, page: { viewport: DESKTOP, deviceScaleFactor: 2, hasTouch: false, isMobile: false } },
  phone1: { id: 'phone1', label: 'phone 390×844, DPR 1', phone: true, dpr: 1, page: { viewport: PHONE, deviceScaleFactor: 1, hasTouch: true, isMobile: true } },
  phone2: { id: 'phone2', label: 'phone 390×844, DPR 2', phone: true, dpr: 2, page: { viewport: PHONE, deviceScaleFactor: 2, hasTouch: true, isMobile: true } },
});

/** Every profile: desktop and phone, DPR 1 and 2. */
export const ALL = ['desktop1', 'desktop2', 'phone1', 'phone2'];
/** For items that mean nothing on a phone (a physical keyboard's shortcuts): both DPRs on a desktop. */
export const DESKTOPS = ['desktop1', 'desktop2'];
/** For items of phones only (the extra-keys row, the on-screen keyboard): both DPRs on a phone. */
export const PHONES = ['phone1', 'phone2'];

/**
 * Runs `body(profile)` once per profile of `ids` as subtests of the test `t`, each named
 * "<id>: <label>". The subtests run one after the other, so they may share one kiln server the
 * calling test started (each profile leaves it as it found it, or copes with what the previous one
 * left). A failing profile fails the test; the others still run.
 */
export async function eachProfile(t, ids, body) {
  for (const id of ids) {
    const profile = PROFILES[id];
    if (!profile) throw new Error(`unknown profile ${id}`);
    await t.test(`${id}: ${profile.label}`, () => body(profile));
  }
}

/** Saves a screenshot of `page` as `<name>-<profile id>.png` in the test artifacts. */
export function profileShot(page, name, profile) {
  return saveScreenshot(page, `${name}-${profile.id}`);
}

/** Options for `openPage` at `profile`, merged with `extra` (colour scheme, permissions...). */
export function pageAt(profile, extra = {}) {
  return { ...profile.page, ...extra };
}

/**
 * Brings a kiln server shared by several profiles back to a fresh start: every session ended and
 * the owner's settings emptied (first-run notice, theme, layout). Close the pages first: an open
 * page would save its settings again.
 */
export async function resetKiln(kiln) {
  const { body } = await kiln.api('/api/sessions');
  for (const s of body.sessions) await kiln.api(`/api/sessions/${s.id}`, { method: 'DELETE' });
  const res = await kiln.api('/api/settings', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (res.status !== 200) throw new Error(`settings not reset: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * Opens a signed-in page of `kiln` at `profile` (`extra` adds openPage options, and `query`, e.g.
 * "?renderer=dom", goes after the URL), runs `body(ui)`, then closes the page and resets kiln
 * (`resetKiln`) for the next profile.
 */
export async function withProfilePage(browser, kiln, profile, body, { query = '', ...extra } = {}) {
  const ui = await openPage(browser, `${kiln.origin}/${query}`, { ...profile.page, signedIn: true, ...extra });
  try {
    await body(ui);
  } finally {
    await ui.close();
    await resetKiln(kiln);
  }
}

/** Activates `locator` as the profile's user would: a tap on a phone, a click elsewhere. */
export function press(locator, profile) {
  return profile.page.hasTouch ? locator.tap() : locator.click();
}

/**
 * Opens the panel of the status area's part `id` (e.g. "sync-indicator") as the profile's user
 * would: its chip on a desktop; on a phone, where the chips fold into one summary button, that
 * button and then the part's button in the overview.
 */
export async function openStatusPart(page, profile, id) {
  if (!profile.phone) return page.locator(`#${id}`).click();
  await page.locator('#state-summary').tap();
  await page.locator(`[data-slot="${id}"] button`).tap();
}

/**
 * The controls of a dialog (`dialog`, a locator) a finger cannot hit on a phone: every visible
 * button and field shorter than 44 px, as "name WxH". Empty at a desktop profile, where the
 * pointer is fine.
 */
export async function smallTargets(dialog, profile) {
  if (!profile.phone) return [];
  return dialog.locator('button:visible, input:visible').evaluateAll((els) =>
    els
      .map((e) => [e.textContent.trim() || e.getAttribute('aria-label') || e.id, e.getBoundingClientRect()])
      .filter(([, r]) => r.height < 44)
      .map(([n, r]) => `${n} ${r.width}x${r.height}`),
  );
}

/** Whether the box `b` (a boundingBox) lies wholly on the profile's screen. */
export function onScreen(b, profile) {
  const { width, height } = profile.page.viewport;
  return b.x >= 0 && b.y >= 0 && b.x + b.width <= width + 0.5 && b.y + b.height <= height + 0.5;
}
