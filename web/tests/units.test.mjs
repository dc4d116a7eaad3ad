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

test('sticky Ctrl and Alt modify the next key as a terminal keyboard would', async () => {
  const { modify, Modifiers } = await load('modifiers.ts');
  assert.equal(modify('c', true, false), '\x03');
  assert.equal(modify('C', true, false), '\x03');
  assert.equal(modify('[', true, false), '\x1b');
  assert.equal(modify(' ', true, false), '\x00');
  assert.equal(modify('?', true, false), '\x7f');
  assert.equal(modify('b', false, true), '\x1bb');
  assert.equal(modify('x', true, true), '\x1b\x18');
  assert.equal(modify('\x1b[D', true, false), '\x1b[1;5D');
  assert.equal(modify('\x1bOA', false, true), '\x1b[1;3A');
  assert.equal(modify('\x1b[C', true, true), '\x1b[1;7C');
  // Text of more than one character (a paste) keeps its letters; Alt still prefixes Esc.
  assert.equal(modify('ab', true, false), 'ab');
  const m = new Modifiers();
  let changes = 0;
  m.onChange(() => changes++);
  assert.equal(m.apply('c'), 'c');
  m.set('ctrl', true);
  assert.equal(m.apply('c'), '\x03');
  // One-shot: released after one key.
  assert.equal(m.apply('c'), 'c');
  assert.equal(changes, 2);
});

test('every theme has AA contrast for the page text and a light and dark default', async () => {
  const { THEMES, chromeColors, contrast, themeById } = await load('theme.ts');
  assert.ok(THEMES.length >= 8);
  assert.ok(THEMES.some((t) => t.light) && THEMES.some((t) => !t.light));
  assert.equal(new Set(THEMES.map((t) => t.id)).size, THEMES.length);
  for (const t of THEMES) {
    const c = chromeColors(t);
    for (const text of ['--text', '--muted', '--ok', '--warn', '--bad', '--accent-on-bar']) {
      for (const bg of ['--bar', '--bar-hover']) {
        assert.ok(contrast(c[text], c[bg]) >= 4.5, `${t.id}: ${text} ${c[text]} on ${bg} ${c[bg]}: ${contrast(c[text], c[bg]).toFixed(2)}`);
      }
    }
    assert.ok(contrast(c['--accent-text'], c['--accent']) >= 4.5, `${t.id}: primary button text`);
    assert.ok(contrast(t.term.foreground, t.term.background) >= 4.5, `${t.id}: terminal text`);
  }
  assert.equal(themeById(undefined, true).light, true);
  assert.equal(themeById(undefined, false).light, false);
  assert.equal(themeById('nope', false).id, 'kiln-dark');
});
