// Shared fixtures of the browser tests: a real `kiln serve` on a free loopback port with a fixed
// access key, HOME in a fresh temp dir and SHELL=/bin/bash; headless Chromium (Debian's) driven
// by playwright-core; and waits for conditions in the page (never sleeps).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const KILN_BIN = process.env.KILN_BIN ?? join(webDir, '..', 'target', 'debug', 'kiln');
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const KEY = 'browser-test-key-0123456789';
/** Generous: the machine is small and may be busy building. */
export const WAIT_MS = 30_000;

/** Starts kiln; resolves once it printed its URL. `port` 0 picks a free one. */
export async function startKiln({ port = 0, home } = {}) {
  const ownHome = !home;
  home ??= await mkdtemp(join(tmpdir(), 'kiln-web-test-'));
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    SHELL: '/bin/bash',
    USER: process.env.USER ?? 'root',
    LANG: 'C.UTF-8',
    KILN_ACCESS_KEY: KEY,
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
  const proc = spawn(KILN_BIN, ['serve', '--bind', `127.0.0.1:${port}`], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = await new Promise((resolveUrl, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`kiln printed no URL in ${WAIT_MS} ms: ${out}${stderr}`)), WAIT_MS);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /kiln: open (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`kiln exited (${code ?? signal}) before serving: ${stderr}`));
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  const exited = new Promise((r) => proc.once('exit', r));
  const origin = new URL(url).origin;
  return {
    url,
    origin,
    port: Number(new URL(url).port),
    home,
    /** SIGKILL: no goodbye to the browsers, the shells die with their PTYs. */
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
    /** Stops kiln (SIGTERM: it ends its shells; SIGKILL if it lingers) and removes the temp
     *  HOME when this fixture made it. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      // Shells of a killed kiln may still be writing their history while they hang up.
      if (ownHome) await rm(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    },
    /** Calls the API as a program would (bearer key). */
    async api(path, init = {}) {
      const res = await fetch(origin + path, {
        ...init,
        headers: { authorization: `Bearer ${KEY}`, ...(init.headers ?? {}) },
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/**
 * A fresh browser context and page that records CSP violations, console errors and page
 * errors from the first script on.
 */
export async function openPage(browser, url, { viewport = { width: 1000, height: 600 }, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport, permissions });
  const page = await context.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || 'inline'} ${e.sample}`);
    });
  });
  await page.goto(url);
  return {
    page,
    context,
    consoleErrors,
    pageErrors,
    cspViolations: () => page.evaluate(() => window.__cspViolations),
    close: () => context.close(),
  };
}

/** Waits until `fn(arg)` is truthy in the page; the message says what was awaited. */
export async function waitFor(page, what, fn, arg) {
  try {
    return await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 50 });
  } catch (e) {
    const state = await page.evaluate(() => window.__kiln?.tabs()).catch(() => 'unavailable');
    const text = await page.evaluate(() => window.__kiln?.text()).catch(() => '');
    throw new Error(`timed out waiting for ${what}\ntabs: ${JSON.stringify(state)}\nscreen:\n${text}\n(${e.message})`);
  }
}

/** Waits for the active tab to be in `state` (e.g. "connected"). */
export function waitForState(page, state) {
  return waitFor(page, `the active tab to be ${state}`, (s) => window.__kiln?.active()?.state === s, state);
}

/** Waits for a shell prompt (a last line ending in $ or #) in the active tab. */
export function waitForPrompt(page) {
  return waitFor(page, 'a shell prompt', () => /[$#] ?$/.test((window.__kiln?.text() ?? '').split('\n').pop() ?? ''));
}

/** Waits until the active terminal shows a line that is exactly `line`. */
export function waitForLine(page, line) {
  return waitFor(page, `the line ${JSON.stringify(line)}`, (l) => (window.__kiln?.text() ?? '').split('\n').includes(l), line);
}

/** Focuses the active terminal and types `text`, then Enter. */
export async function typeLine(page, text) {
  await page.locator('.panel:not(.inactive) .xterm').click();
  await page.keyboard.type(text);
  await page.keyboard.press('Enter');
}
