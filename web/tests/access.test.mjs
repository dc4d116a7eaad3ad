// Browser test of local-mode sign-in (issue 8, finding 2; docs/security.md): the printed link
// carries a one-time code, the page keeps the key in its own origin's storage and sends it as a
// header, so a second loopback server on another port that the same browser visits never
// receives the key (no cookie at all), new tabs and reloads keep working, and the key is
// nowhere in Chromium's profile but the page's own localStorage (History database included).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, KEY, startKiln, typeLine, waitFor, waitForLine, waitForPrompt, waitForState } from './support/kiln.mjs';
import { ALL, eachProfile, onScreen, profileShot, smallTargets } from './support/profiles.mjs';

/** A plain HTTP server on another loopback port that records every request's headers. */
async function startRecorder() {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push({ url: req.url, headers: req.rawHeaders });
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>other</title><img src="/pixel.png"><p>another local server</p>');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { seen, port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

/** Every file under `dir` (recursively). */
async function files(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(p)));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

test('the key stays with its origin: another loopback port never gets it, history never holds it', async () => {
  const kiln = await startKiln();
  const other = await startRecorder();
  const profile = await mkdtemp(join(tmpdir(), 'kiln-chromium-profile-'));
  let context;
  try {
    assert.match(kiln.url, /\/#code=[0-9a-f]{64}$/);
    assert.ok(!kiln.url.includes(KEY), 'the printed URL holds a one-time code, not the key');
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
    });
    const page = await context.newPage();
    await page.goto(kiln.url);
    await waitForState(page, 'connected');
    await waitForPrompt(page);
    await typeLine(page, 'echo signed-in');
    await waitForLine(page, 'signed-in');
    assert.equal(new URL(page.url()).hash, '', 'the code left the address bar');
    const id = (await page.evaluate(() => window.__kiln.active())).id;

    // A new tab opening the app's plain address, and a reload: the same session, no sign-in.
    const second = await context.newPage();
    await second.goto(`${kiln.origin}/`);
    await waitForState(second, 'connected');
    assert.equal((await second.evaluate(() => window.__kiln.active())).id, id);
    await second.reload();
    await waitForState(second, 'connected');
    await waitForLine(second, 'signed-in');
    // No ambient credential: a request without the header is refused. The long-poll
    // transport carries the key too.
    const bare = await second.evaluate(async () => {
      const { status } = await fetch('api/status');
      return status;
    });
    assert.equal(bare, 401, 'a request without the header has no ambient credential');
    const poll = await context.newPage();
    await poll.goto(`${kiln.origin}/?transport=poll`);
    await waitForState(poll, 'connected');
    await typeLine(poll, 'echo over-poll');
    await waitForLine(poll, 'over-poll');
    await poll.close();

    // The same browser visits another server on 127.0.0.1 and on localhost.
    const foreign = await context.newPage();
    await foreign.goto(`http://127.0.0.1:${other.port}/`);
    await foreign.goto(`http://localhost:${other.port}/page`);
    await waitFor(foreign, 'the page of the other server', () => document.title === 'other');
    await foreign.evaluate(() => fetch('/from-script', { credentials: 'include' }).then((r) => r.text()));
    assert.ok(other.seen.length >= 3, `requests seen: ${other.seen.length}`);
    for (const { url, headers } of other.seen) {
      const names = headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      assert.ok(!names.includes('cookie'), `${url} came with a cookie`);
      assert.ok(!names.includes('authorization'), `${url} came with an authorization header`);
      assert.ok(!headers.join('\n').includes(KEY), `${url} received the key`);
    }
    // Nor can the other origin read kiln's storage.
    assert.equal(await foreign.evaluate(() => localStorage.getItem('kiln.accessKey')), null);
  } finally {
    await context?.close();
    await other.close();
    await kiln.stop();
  }
  try {
    // Chromium's history holds the sign-in link, whose code is spent: never the key.
    const history = join(profile, 'Default', 'History');
    const urls = execFileSync('python3', ['-c', 'import sqlite3,sys; print("\\n".join(r[0] for r in sqlite3.connect(sys.argv[1]).execute("select url from urls")))', history])
      .toString()
      .split('\n')
      .filter(Boolean);
    assert.ok(urls.some((u) => u.includes('#code=')), `the history database was read: ${urls.join(' ')}`);
    assert.ok(!urls.some((u) => u.includes(KEY)), `the key is in the history: ${urls.join(' ')}`);
    // Nowhere in the profile's files either (history, cookies, cache, sessions, …) but the
    // page's own localStorage, where it is kept on purpose.
    const holders = [];
    for (const file of await files(profile)) {
      if (file.includes(`${join('Default', 'Local Storage')}`)) continue;
      const bytes = await readFile(file).catch(() => null);
      if (bytes?.includes(KEY)) holders.push(file);
    }
    assert.deepEqual(holders, [], 'files of the profile holding the key');
    const local = await files(join(profile, 'Default', 'Local Storage'));
    const kept = await Promise.all(local.map((f) => readFile(f).then((b) => b.includes(KEY))));
    assert.ok(kept.some(Boolean), 'the key was kept in localStorage (so the search above could see it)');
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
});

test('a used sign-in link asks for the key; pasting it signs in', async (t) => {
  const kiln = await startKiln();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  try {
    const first = await browser.newContext();
    const a = await first.newPage();
    await a.goto(kiln.url);
    await waitForState(a, 'connected');
    await first.close();
    // The same link in a browser without the key: spent, so the page asks. At every profile
    // (support/profiles.mjs): the dialog fits the screen, a phone's targets are 44 px.
    await eachProfile(t, ALL, async (profile) => {
      const fresh = await browser.newContext(profile.page);
      try {
        const b = await fresh.newPage();
        await b.goto(kiln.url);
        const dialog = b.locator('#access-dialog');
        await dialog.waitFor();
        await b.fill('#access-key-input', 'not-the-key-0123456789');
        await dialog.getByRole('button', { name: 'Sign in' }).click();
        await dialog.getByText('That is not the access key of this kiln.').waitFor();
        const box = await dialog.boundingBox();
        assert.ok(onScreen(box, profile), `the dialog fits the screen: ${JSON.stringify(box)}`);
        assert.deepEqual(await smallTargets(dialog, profile), [], '44 px targets');
        await profileShot(b, 'access-key-dialog', profile);
        await b.fill('#access-key-input', KEY);
        await dialog.getByRole('button', { name: 'Sign in' }).click();
        await waitForState(b, 'connected');
        await waitForPrompt(b);
      } finally {
        await fresh.close();
      }
    });
  } finally {
    await browser.close();
    await kiln.stop();
  }
});
