// Shared fixtures of the browser tests: a real `kiln serve` on a free loopback port with a fixed
// access key, HOME in a fresh temp dir and SHELL=/bin/bash; the kiln-emulator binary; headless
// Chromium (Debian's) driven by playwright-core, one per test file; and waits for conditions in
// the page (never sleeps). Not a test file itself (node --test only runs *.test.mjs here).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

/** The `web` directory. */
export const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const KILN_BIN = process.env.KILN_BIN ?? join(webDir, '..', 'target', 'debug', 'kiln');
export const EMULATOR_BIN = process.env.KILN_EMULATOR_BIN ?? join(webDir, '..', 'target', 'debug', 'kiln-emulator');
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
export const KEY = 'browser-test-key-0123456789';
/** Generous: the machine is small and may be busy building. */
export const WAIT_MS = 30_000;

/**
 * Spawns `bin args` with exactly `env` and resolves with `{ proc, value }` once
 * `ready(stdoutSoFar)` returns a truthy value. Rejects (and kills the process) when it is not
 * ready within WAIT_MS; rejects when it exits or cannot start first.
 */
export function spawnUntil(bin, args, env, ready) {
  const proc = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolveReady, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${bin} not ready in ${WAIT_MS} ms: ${out}${stderr}`));
    }, WAIT_MS);
    proc.stdout.on('data', (d) => {
      out += d;
      const value = ready(out);
      if (value) {
        clearTimeout(timer);
        resolveReady({ proc, value });
      }
    });
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited (${code ?? signal}) before it was ready: ${stderr}`));
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function running(proc) {
  return proc.exitCode === null && proc.signalCode === null;
}

/** Stops `proc` with SIGTERM (SIGKILL if it lingers for 10 s) and waits for it to exit. */
export async function stopProcess(proc) {
  if (!running(proc)) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts `kiln serve`; resolves once it printed its URL. `port` 0 picks a free one. Without
 * `home` a fresh temp HOME is made (and removed by `stop`). `env` adds to (or overrides) the
 * base environment, e.g. DATABRICKS_HOST or a PATH with stand-in tools first; `args` adds
 * flags to `kiln serve` (e.g. `--max-sessions 2`).
 */
export async function startKiln({ port = 0, home, env: extraEnv = {}, args = [] } = {}) {
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
    // A UI built from the working tree (`node build.mjs --outdir DIR`) instead of the embedded one.
    ...(process.env.KILN_UI_DIR ? { KILN_UI_DIR: process.env.KILN_UI_DIR } : {}),
    ...extraEnv,
  };
  let proc;
  let url;
  try {
    ({ proc, value: url } = await spawnUntil(KILN_BIN, ['serve', '--bind', `127.0.0.1:${port}`, ...args], env, (out) => /kiln: open (http:\/\/\S+)/.exec(out)?.[1]));
  } catch (e) {
    if (ownHome) await rm(home, { recursive: true, force: true });
    throw e;
  }
  const origin = new URL(url).origin;
  const api = async (path, init = {}) => {
    const res = await fetch(origin + path, {
      ...init,
      headers: { authorization: `Bearer ${KEY}`, ...(init.headers ?? {}) },
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return {
    url,
    origin,
    port: Number(new URL(url).port),
    home,
    /** SIGKILL: no goodbye to the browsers, the shells die with their PTYs. */
    async kill() {
      if (!running(proc)) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
    /** Stops kiln (SIGTERM: it ends its shells; SIGKILL if it lingers) and removes the temp
     *  HOME when this fixture made it. */
    async stop() {
      await stopProcess(proc);
      // Shells of a killed kiln may still be writing their history while they hang up.
      if (ownHome) await rm(home, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    },
    /** Calls the API as a program would (bearer key). */
    api,
    /** A fresh one-time sign-in URL; `query` (e.g. `?transport=poll`) goes before the fragment. */
    async signInUrl(query = '') {
      const { status, body } = await api('/api/login-links', { method: 'POST' });
      assert.equal(status, 200);
      return `${origin}/${query}${body.path.slice(1)}`;
    },
  };
}

/**
 * Starts the kiln-emulator on a free port. `host` is its DATABRICKS_HOST, `user` and `token` a
 * user and a token it knows, `vars` every KEY=VALUE line it printed (KILN_EMULATOR_USER_2, ...),
 * `admin(method, path, body)` calls its admin API, `stop()` ends it. `args` adds flags (e.g.
 * `--user EMAIL`, repeatable: the first one is the workspace's first user).
 */
export async function startEmulator({ args = [] } = {}) {
  const { proc, value } = await spawnUntil(EMULATOR_BIN, ['--port', '0', ...args], { PATH: process.env.PATH, RUST_LOG: 'warn' }, (out) =>
    out.includes('KILN_EMULATOR_READY=1') ? out : null,
  );
  const vars = Object.fromEntries(
    value
      .split('\n')
      .map((l) => l.split('='))
      .filter((p) => p.length >= 2)
      .map(([k, ...v]) => [k, v.join('=')]),
  );
  const adminUrl = vars.KILN_EMULATOR_ADMIN;
  return {
    host: vars.DATABRICKS_HOST,
    user: vars.KILN_EMULATOR_USER,
    token: vars.DATABRICKS_TOKEN,
    vars,
    async admin(method, path, body) {
      const res = await fetch(adminUrl + path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      assert.ok(res.ok, `${method} ${path}: ${res.status}`);
      return res.json();
    },
    stop: () => stopProcess(proc),
  };
}

/** Headless Chromium. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/**
 * One browser for the calling test file: launched before its tests, closed after them. Returns a
 * getter for it (the browser exists only once the tests run).
 */
export function useBrowser() {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  return () => browser;
}

/**
 * A fresh browser context and page that records CSP violations, console errors and page
 * errors from the first script on. `init` is a function (or a list of them) run in the page
 * before its own scripts, from the first load on (a stand-in for a browser API, say): adding it
 * after the page loaded and reloading would race the sign-in link's one-time code.
 */
export async function openPage(
  browser,
  url,
  { viewport = { width: 1000, height: 600 }, permissions = [], deviceScaleFactor = 1, hasTouch = false, isMobile = false, colorScheme = 'dark', storageState, signedIn = false, init = [] } = {},
) {
  const context = await browser.newContext({ viewport, permissions, deviceScaleFactor, hasTouch, isMobile, colorScheme, storageState });
  const page = await context.newPage();
  const consoleErrors = [];
  const pageErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // A browser that already holds the key (the printed link's one-time code is spent once).
  if (signedIn) await page.addInitScript((key) => localStorage.setItem('kiln.accessKey', key), KEY);
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective}: ${e.blockedURI || 'inline'} ${e.sample}`);
    });
  });
  for (const script of [init].flat()) await page.addInitScript(script);
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

/** Where the tests keep their screenshots: target/web-test-artifacts (never committed). */
export const ARTIFACTS = process.env.KILN_TEST_ARTIFACTS ?? join(webDir, '..', 'target', 'web-test-artifacts');

/** Saves a screenshot of `page` as ARTIFACTS/`name`.png (for people; no test reads it back). */
export async function saveScreenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
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

/**
 * How many pixels of `locator`'s screenshot differ clearly from its most common colour (the
 * background): text on screen is ink, a blank terminal has none. Decoded in a blank page of
 * `browser`, whatever renderer (WebGL canvas or DOM) drew it.
 */
export async function inkPixels(browser, locator) {
  const png = await locator.screenshot();
  const blank = await browser.newPage();
  try {
    return await blank.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      const counts = new Map();
      for (let i = 0; i < data.length; i += 4) {
        const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      const bg = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
      const [br, bgc, bb] = [(bg >> 16) & 255, (bg >> 8) & 255, bg & 255];
      let ink = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - br) + Math.abs(data[i + 1] - bgc) + Math.abs(data[i + 2] - bb) > 120) ink++;
      }
      return ink;
    }, png.toString('base64'));
  } finally {
    await blank.close();
  }
}

/** `url` with `query` (e.g. "renderer=dom") added before its fragment (the sign-in code). */
export function withQuery(url, query) {
  const u = new URL(url);
  u.search = u.search ? `${u.search}&${query}` : `?${query}`;
  return u.toString();
}

/** The toolbar button `name`; on narrow screens it sits in the tools drawer, which is opened. */
export async function toolButton(page, name) {
  const button = page.getByRole('button', { name, exact: true });
  if (await button.isHidden()) await page.getByRole('button', { name: 'More tools' }).click();
  return button;
}
