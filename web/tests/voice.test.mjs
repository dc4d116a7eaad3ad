// Browser test of voice dictation (voice.ts) against the real `kiln serve`. Headless Chromium
// has no microphone or speech service, so the first test puts a stand-in for the browser's
// SpeechRecognition in the page (it delivers the phrases a speech service would); the second
// removes the API to check the "not available" state.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage, startKiln, toolButton, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';

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

test('dictation types the words at the prompt, without Enter', async () => {
  const kiln = await startKiln();
  let ui;
  try {
    ui = await openPage(browser(), kiln.url, { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    const { page } = ui;
    await page.addInitScript(fakeSpeech);
    await page.reload();
    await waitForState(page, 'connected');
    await waitForPrompt(page);
    // The button, whether or not the tools drawer shows it.
    const mic = page.locator('#voice');
    assert.equal(await mic.getAttribute('aria-pressed'), 'false');
    await (await toolButton(page, 'Voice dictation')).tap();
    assert.equal(await mic.getAttribute('aria-pressed'), 'true', await page.locator('#notice').innerText());
    assert.match(await page.locator('#notice').innerText(), /Listening/);
    await page.evaluate(() => window.__say('echo spoken\nwords'));
    await page.evaluate(() => window.__say('$((3*7))'));
    await waitFor(page, 'the words at the prompt', () => /[$#] echo spoken words \$\(\(3\*7\)\) ?$/.test(window.__kiln.text().replace(/\n/g, '')));
    const text = await page.evaluate(() => window.__kiln.text());
    assert.ok(!text.split('\n').includes('spoken words 21'), 'nothing ran: no Enter was typed');
    await (await toolButton(page, 'Voice dictation')).tap();
    assert.equal(await mic.getAttribute('aria-pressed'), 'false');
    await page.keyboard.press('Enter');
    await waitForLine(page, 'spoken words 21');
  } finally {
    await ui?.close();
    await kiln.stop();
  }
});

test('without speech recognition the button says it is not available', async () => {
  const kiln = await startKiln();
  let ui;
  try {
    ui = await openPage(browser(), kiln.url);
    const { page } = ui;
    await page.addInitScript(() => {
      delete window.SpeechRecognition;
      delete window.webkitSpeechRecognition;
    });
    await page.reload();
    await waitForState(page, 'connected');
    const mic = page.getByRole('button', { name: 'Voice dictation (not available in this browser)' });
    assert.equal(await mic.getAttribute('aria-disabled'), 'true');
    await mic.dispatchEvent('click');
    assert.match(await page.locator('#notice').innerText(), /not available in this browser/);
  } finally {
    await ui?.close();
    await kiln.stop();
  }
});
