// Unit tests of the UI's pure functions (shell quoting, backoff, input chunking), bundled from
// the TypeScript sources with esbuild on the fly. No browser needed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSource as load } from './support/source.mjs';

test('paths are shell-quoted only when needed', async () => {
  const { shellQuote } = await load('upload.ts');
  assert.equal(shellQuote('/home/u/uploads/report.pdf'), '/home/u/uploads/report.pdf');
  assert.equal(shellQuote('/home/u/uploads/my notes.txt'), `'/home/u/uploads/my notes.txt'`);
  assert.equal(shellQuote(`/u/it's.txt`), `'/u/it'\\''s.txt'`);
  assert.equal(shellQuote('/u/$(rm -rf ~)`x`;&|*?.txt'), `'/u/$(rm -rf ~)\`x\`;&|*?.txt'`);
  assert.equal(shellQuote(''), `''`);
  assert.equal(shellQuote('/u/naïve.txt'), `'/u/naïve.txt'`);
});

test('reconnect delays grow exponentially with jitter up to a ceiling', async () => {
  const { backoffDelay } = await load('transport.ts');
  const low = () => 0;
  const high = () => 0.999999;
  assert.equal(backoffDelay(1, low), 250);
  assert.equal(backoffDelay(1, high), 500);
  assert.equal(backoffDelay(2, high), 1000);
  assert.equal(backoffDelay(4, high), 4000);
  for (let attempt = 1; attempt < 40; attempt++) {
    const d = backoffDelay(attempt);
    assert.ok(d >= 250 && d <= 15_000, `attempt ${attempt}: ${d}`);
  }
  assert.equal(backoffDelay(30, high), 15_000);
});

test('input chunks keep order and size limits', async () => {
  const { takeChunk } = await load('transport.ts');
  const bytes = (from, n) => Uint8Array.from({ length: n }, (_, i) => (from + i) & 0xff);
  const queue = [bytes(0, 3), bytes(3, 10), bytes(13, 2)];
  const out = [];
  while (queue.length) out.push(takeChunk(queue, 4));
  assert.deepEqual(
    out.map((c) => c.length),
    [4, 4, 4, 3],
  );
  const joined = out.flatMap((c) => Array.from(c));
  assert.deepEqual(joined, Array.from(bytes(0, 15)));
});
