// Browser test of voice dictation (voice.ts) against the real `kiln serve`, at every profile
// (desktop and phone, DPR 1 and 2: support/profiles.mjs). Headless Chromium has no microphone or
// speech service, so the first test puts a stand-in for the browser's SpeechRecognition in the
// page before its scripts (it delivers the phrases a speech service would); the second removes
// the API to check the "not available" state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startKiln, toolButton, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, press, profileShot, withProfilePage } from './support/profiles.mjs';

const browser = useBrowser();

/** A SpeechRecognition that reports `window.__say(text)` as a final result. */
function fakeSpeech() {
  class FakeRecognition {
    constructor() {
      this.continuous = false;
      this.interimResults = false;
      this.lang = '';
      this.onresult = null;
      this.onerror = null;
      this.onend = null;
      this.results = [];
    }
    start() {
      window.__recognition = this;
    }
    stop() {
      window.__recognition = undefined;
      this.onend?.();
    }
  }
  window.SpeechRecognition = FakeRecognition;
  window.webkitSpeechRecognition = FakeRecognition;
  window.__say = (text) => {
    const r = window.__recognition;
    const result = Object.assign([{ transcript: text }], { isFinal: true });
    r.results.push(result);
    r.onresult?.({ resultIndex: r.results.length - 1, results: r.results });
  };
}

test('dictation types the words at the prompt, without Enter', async (t) => {
  const kiln = await startKiln();
  try {
    await eachProfile(t, ALL, (profile) =>
      withProfilePage(
        browser(),
        kiln,
        profile,
        async ({ page }) => {
          await waitForState(page, 'connected');
          await waitForPrompt(page);
          // The button, whether or not the tools drawer shows it.
          const mic = page.locator('#voice');
          assert.equal(await mic.getAttribute('aria-pressed'), 'false');
          await press(await toolButton(page, 'Voice dictation'), profile);
          assert.equal(await mic.getAttribute('aria-pressed'), 'true', await page.locator('#notice').innerText());
          assert.match(await page.locator('#notice').innerText(), /Listening/);
          await page.evaluate(() => window.__say('echo spoken\nwords'));
          await page.evaluate(() => window.__say('$((3*7))'));
          await waitFor(page, 'the words at the prompt', () => /[$#] echo spoken words \$\(\(3\*7\)\) ?$/.test(window.__kiln.text().replace(/\n/g, '')));
          const text = await page.evaluate(() => window.__kiln.text());
          assert.ok(!text.split('\n').includes('spoken words 21'), 'nothing ran: no Enter was typed');
          await profileShot(page, 'voice-listening', profile);
          await press(await toolButton(page, 'Voice dictation'), profile);
          assert.equal(await mic.getAttribute('aria-pressed'), 'false');
          await page.keyboard.press('Enter');
          await waitForLine(page, 'spoken words 21');
        },
        { init: fakeSpeech },
      ),
    );
  } finally {
    await kiln.stop();
  }
});

test('without speech recognition the button says it is not available', async (t) => {
  const kiln = await startKiln();
  const noSpeech = () => {
    delete window.SpeechRecognition;
    delete window.webkitSpeechRecognition;
  };
  try {
    await eachProfile(t, ALL, (profile) =>
      withProfilePage(
        browser(),
        kiln,
        profile,
        async ({ page }) => {
          await waitForState(page, 'connected');
          const mic = await toolButton(page, 'Voice dictation (not available in this browser)');
          assert.equal(await mic.getAttribute('aria-disabled'), 'true');
          await profileShot(page, 'voice-unavailable', profile);
          await mic.dispatchEvent('click');
          assert.match(await page.locator('#notice').innerText(), /not available in this browser/);
        },
        { init: noSpeech },
      ),
    );
  } finally {
    await kiln.stop();
  }
});
