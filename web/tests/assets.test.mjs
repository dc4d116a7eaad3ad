// Browser test of how kiln serves the UI's files (server/assets.rs), with the UI embedded in the
// binary (KILN_UI_DIR emptied): Chromium gets app.js and app.css precompressed; HEAD answers
// without a body; the ETag of a representation gets 304 Not Modified; brotli where asked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openPage, startKiln, useBrowser, waitForState } from './support/kiln.mjs';

const browser = useBrowser();

test('assets: precompressed, HEAD, ETag and 304', async () => {
  const kiln = await startKiln({ env: { KILN_UI_DIR: '' } });
  let ui;
  try {
    const encodings = new Map();
    ui = await openPage(browser(), 'about:blank');
    const { page } = ui;
    page.on('response', async (r) => {
      const name = new URL(r.url()).pathname;
      if (name === '/app.js' || name === '/app.css') encodings.set(name, { encoding: r.headers()['content-encoding'], vary: r.headers().vary });
    });
    await page.goto(await kiln.signInUrl());
    await waitForState(page, 'connected');
    for (const name of ['/app.js', '/app.css']) {
      const seen = encodings.get(name);
      assert.ok(seen, `${name} was loaded`);
      assert.ok(['br', 'gzip'].includes(seen.encoding), `${name} compressed: ${JSON.stringify(seen)}`);
      assert.equal(seen.vary, 'accept-encoding');
    }
    const sizes = await page.evaluate(() => performance.getEntriesByType('resource').filter((e) => /\/app\.js/.test(e.name)).map((e) => [e.encodedBodySize, e.decodedBodySize]));
    assert.ok(sizes.length && sizes[0][0] * 2 < sizes[0][1], `app.js went compressed over the wire: ${JSON.stringify(sizes)}`);
    const src = await page.evaluate(() => document.querySelector('script[src^="app.js"]').getAttribute('src'));
    const url = `${kiln.origin}/${src}`;

    const br = await fetch(url, { headers: { 'accept-encoding': 'br' } });
    assert.equal(br.status, 200);
    assert.equal(br.headers.get('content-encoding'), 'br');
    const etag = br.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}-br"$/);
    assert.ok((await br.text()).length > 1000, 'decoded by fetch');
    const plain = await fetch(url, { headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.notEqual(plain.headers.get('etag'), etag);
    await plain.arrayBuffer();

    const head = await fetch(url, { method: 'HEAD', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-encoding'), 'gzip');
    assert.equal(head.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    const cached = await fetch(url, { headers: { 'accept-encoding': 'br', 'if-none-match': etag } });
    assert.equal(cached.status, 304);
    assert.equal(cached.headers.get('etag'), etag);
    assert.equal((await cached.arrayBuffer()).byteLength, 0);
    // Another representation's ETag does not match.
    const other = await fetch(url, { headers: { 'accept-encoding': 'gzip', 'if-none-match': etag } });
    assert.equal(other.status, 200);
    await other.arrayBuffer();

    // The fonts kiln ships are embedded too (woff2 is compressed already: sent as it is).
    const font = await fetch(`${kiln.origin}/fonts/jetbrains-mono-latin-400-normal.woff2`, { headers: { 'accept-encoding': 'br, gzip' } });
    assert.equal(font.status, 200);
    assert.equal(font.headers.get('content-type'), 'font/woff2');
    assert.equal(font.headers.get('content-encoding'), null);
    assert.ok((await font.arrayBuffer()).byteLength > 10_000);

    const headIndex = await fetch(`${kiln.origin}/`, { method: 'HEAD' });
    assert.equal(headIndex.status, 200);
    assert.equal(headIndex.headers.get('cache-control'), 'no-store');
    assert.deepEqual(ui.pageErrors, []);
  } finally {
    await ui?.close();
    await kiln.stop();
  }
});
