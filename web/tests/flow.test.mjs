// Output flow control in the browser against a real kiln: a flood (`yes`) makes the page pause the
// server's output to it (xterm.js's write callbacks report what is drawn), the page keeps
// answering while it floods, and Ctrl-C brings the prompt back with nothing dropped on the way.
// The time from Ctrl-C to the prompt is reported (issue 14 bounds it at 300 ms), never asserted:
// docs/performance.md has the figures.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openPage, startKiln, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';

const browser = useBrowser();

/** The bound issue 14 sets for Ctrl-C to prompt, reported beside the measured time. */
const PROMPT_BOUND_MS = 300;

describe('output flow control', () => {
  test('Ctrl-C during `yes` brings the prompt back and the page stays responsive', async (t) => {
    const kiln = await startKiln();
    let ui;
    try {
      ui = await openPage(browser(), kiln.url);
      const { page, pageErrors } = ui;
      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'yes');
      await waitForLine(page, 'y');
      // The flood outruns the terminal, so the page pauses the server at least once.
      await waitFor(page, 'the page to pause the flood', () => (window.__kiln.active()?.flow?.pauses ?? 0) > 0);
      // The page answers while it floods: a task queued now runs.
      const turn = await page.evaluate(
        () =>
          new Promise((resolve) => {
            const queued = performance.now();
            setTimeout(() => resolve(performance.now() - queued), 0);
          }),
      );
      await page.evaluate(() => {
        window.__ctrlC = performance.now();
      });
      await page.keyboard.press('Control+C');
      await waitForPrompt(page);
      const ms = await page.evaluate(() => performance.now() - window.__ctrlC);
      t.diagnostic(
        `Ctrl-C to prompt: ${ms.toFixed(0)} ms (bound in issue 14: ${PROMPT_BOUND_MS} ms); ` +
          `a task queued during the flood waited ${turn.toFixed(0)} ms`,
      );
      // Nothing is stuck: the terminal has drawn everything and the shell answers.
      await waitFor(page, 'every byte to be drawn', () => window.__kiln.active()?.flow?.unwritten === 0);
      const flow = await page.evaluate(() => window.__kiln.active().flow);
      assert.equal(flow.paused, false, 'the server was resumed once the terminal caught up');
      await typeLine(page, 'echo after-the-flood');
      await waitForLine(page, 'after-the-flood');
      assert.deepEqual(pageErrors, []);
    } finally {
      await ui?.close();
      await kiln.stop();
    }
  });
});
