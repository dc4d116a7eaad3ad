// Unit tests of the credentials UI's pure helpers (durations, banner texts), bundled from the
// TypeScript sources with esbuild on the fly. No browser needed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSource as load } from './support/source.mjs';

test('durations and lifetimes read well', async () => {
  const { clock, lifetimePhrase } = await load('credentials-api.ts');
  assert.equal(clock(0), '0:00');
  assert.equal(clock(9.6), '0:10');
  assert.equal(clock(61), '1:01');
  assert.equal(clock(3600 + 62), '1:01:02');
  assert.equal(clock(-5), '0:00');
  assert.equal(lifetimePhrase(900), '15-minute');
  assert.equal(lifetimePhrase(24), '24-second');
});

test('the banner shows failures and lapses with the time left, and nothing otherwise', async () => {
  const { bannerText } = await load('credentials-api.ts');
  const failing = {
    state: 'retrying',
    failures: 2,
    error: 'cannot mint the next token: temporarily unavailable',
    expires_in_seconds: 300,
    next_retry_in_seconds: 20,
  };
  const text = bannerText(failing, 10, true);
  assert.match(text, /failing \(2 attempts\)/);
  assert.match(text, /temporarily unavailable/);
  assert.match(text, /stays valid for 4:50; next attempt in 0:10\./);
  assert.match(bannerText({ ...failing, failures: 1 }, 0, true), /\(1 attempt\)/);
  assert.match(bannerText({ state: 'lapsing', expires_in_seconds: 90 }, 0, true), /expire in 1:30/);
  assert.equal(bannerText({ state: 'active', expires_in_seconds: 800 }, 0, true), '');
  assert.equal(bannerText({ state: 'needs_token' }, 0, false), '', 'the dialog asks the first time');
  assert.match(bannerText({ state: 'needs_token', reason: 'the token expired' }, 0, true), /no usable Databricks token: the token expired/);
});
