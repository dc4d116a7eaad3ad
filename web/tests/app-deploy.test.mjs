// End to end of kiln as a Databricks App (issue 10, docs/deploy.md), against the kiln-emulator
// binary, which runs app deployments as real processes behind its identity-injecting proxy:
// `kiln app deploy` uploads the release binary (KILN_RELEASE_BIN, built for the glibc floor by
// scripts/build-release) and waits for the deployment; headless Chromium, signed in to the
// emulator as the app's creator, opens the app through the proxy, pastes a personal access token
// in kiln's dialog, runs commands in a real shell, sets up Claude Code (the pinned real CLI from
// the agent cache) with `kiln agents setup` and gets its answer through kiln's model gateway from
// the emulator's serving endpoint. Another user is refused: by the proxy without CAN_USE, by
// kiln itself with CAN_USE. A redeploy of a changed build is what the browser then gets, and
// after a stop the kiln process exits on SIGTERM within the platform's 15 s (no SIGKILL).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, copyFile, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KILN_BIN, WAIT_MS, openPage, saveScreenshot, startEmulator, typeLine, useBrowser, waitFor, waitForLine, waitForPrompt, waitForState, webDir } from './support/kiln.mjs';

const RELEASE_BIN = process.env.KILN_RELEASE_BIN;
const AGENT_CACHE = process.env.KILN_AGENT_CACHE ?? join(webDir, '..', 'target', 'agent-cache');
const APP = 'kiln-e2e';
const ALICE = 'alice@example.com';
const BOB = 'bob@example.com';
/** The platform's grace period between SIGTERM and SIGKILL (reference §5.3). */
const STOP_BOUND_MS = 15_000;
/** A deploy: upload, compute start (10 s in the emulator), kiln's own start. */
const DEPLOY_TIMEOUT_MS = 300_000;
/** The answer prefix of the emulator's serving endpoints (kiln_emulator::serving::ANSWER_MARKER). */
const ANSWER_MARKER = 'kiln-emulator:';

/** Why this test cannot run here, or null. In CI (CI set) a missing prerequisite fails instead. */
function missing() {
  if (!RELEASE_BIN) return 'KILN_RELEASE_BIN is not set (scripts/test exports it from ./scripts/build-release)';
  if (!existsSync(join(AGENT_CACHE, 'bin', 'claude'))) return `Claude Code is not in the agent cache ${AGENT_CACHE} (scripts/test installs it)`;
  return null;
}

/** Runs `kiln args` to completion with exactly `env`; resolves with its output, rejects with it. */
function kiln(args, env) {
  return new Promise((resolve, reject) => {
    execFile(KILN_BIN, args, { env, timeout: DEPLOY_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`kiln ${args.join(' ')} failed (${err.code ?? err.signal}):\n${stdout}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Whether a process with this pid exists (signal 0 tests without signalling). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

/** Resolves once `pid` is gone; rejects after `ms`. Polls /proc: a process that is not our
 *  child has no exit event we could subscribe to. */
function waitForExit(pid, ms) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (!alive(pid)) {
        clearInterval(timer);
        resolve(Date.now() - started);
      } else if (Date.now() - started > ms) {
        clearInterval(timer);
        reject(new Error(`process ${pid} still running ${ms} ms after the stop`));
      }
    }, 50);
  });
}

/** The value after `prefix` on a line of the active terminal, once one shows. */
async function lineValue(page, prefix) {
  const handle = await waitFor(
    page,
    `a line starting with ${prefix}`,
    (p) => (window.__kiln?.text() ?? '').split('\n').find((l) => l.startsWith(p))?.slice(p.length).trim() || null,
    prefix,
  );
  return handle.jsonValue();
}

/** Signs the browser context in to the emulated workspace as `user`, then opens `url`. */
async function openAs(browser, emu, user, url) {
  const ui = await openPage(browser, `${emu.host}/__emulator/login?user=${encodeURIComponent(user)}&next=${encodeURIComponent(url)}`);
  return ui;
}

/** Pastes `pat` into kiln's token dialog and waits until kiln holds a token of its own. */
async function pasteToken(page, pat) {
  const dialog = page.locator('#credentials-dialog');
  await dialog.waitFor({ state: 'visible', timeout: WAIT_MS });
  await page.locator('#credentials-token').fill(pat);
  await page.locator('#credentials-dialog button[type=submit]').click();
  await dialog.waitFor({ state: 'hidden', timeout: WAIT_MS });
  await waitFor(page, 'the token indicator', () => window.__kilnCredentials?.indicator().startsWith('token ✓'));
}

const browser = useBrowser();

describe('kiln as a Databricks App', () => {
  test('deploy, paste a token, shell, agent, refusal, redeploy, stop', { timeout: 900_000 }, async (t) => {
    const why = missing();
    if (why) {
      assert.ok(!process.env.CI, `in CI (CI=${process.env.CI}) this test must run: ${why}`);
      t.skip(why);
      return;
    }
    const dir = await mkdtemp(join(tmpdir(), 'kiln-web-app-'));
    const emu = await startEmulator({ args: ['--user', ALICE, '--user', BOB] });
    const uis = [];
    try {
      assert.equal(emu.user, ALICE);
      const env = { PATH: process.env.PATH, HOME: join(dir, 'laptop'), DATABRICKS_HOST: emu.host, DATABRICKS_TOKEN: emu.token, LANG: 'C.UTF-8' };
      await mkdir(env.HOME);
      // The agents come from the cache in a terminal below, not from the registries at start.
      // KILN_UI_DIR (a UI built from the working tree, as in support/kiln.mjs) reaches the app.
      const ui = process.env.KILN_UI_DIR ? ['--env', `KILN_UI_DIR=${process.env.KILN_UI_DIR}`] : [];
      const deployArgs = (binary) => ['app', 'deploy', APP, '--binary', binary, '--timeout-seconds', '300', '--env', 'KILN_AGENTS_SETUP=0', ...ui];

      // --- deploy the release build ------------------------------------------------------------
      const first = await kiln(deployArgs(RELEASE_BIN), env);
      const appUrl = /is live at (http:\/\/\S+)/.exec(first.stdout)?.[1];
      assert.ok(appUrl, first.stdout);
      assert.match(first.stdout, /created app kiln-e2e/);
      assert.match(first.stdout, /SUCCEEDED/);
      const releaseSha = sha256(await readFile(RELEASE_BIN));

      // --- the creator: token, shell, agent ----------------------------------------------------
      const pat = (await emu.admin('POST', '/tokens', { user: ALICE, lifetime_seconds: 3600 })).token_value;
      const alice = await openAs(browser(), emu, ALICE, `${appUrl}/`);
      uis.push(alice);
      const { page } = alice;
      assert.equal(new URL(page.url()).origin, new URL(appUrl).origin, 'the sign-in led to the app');
      await pasteToken(page, pat);

      await waitForState(page, 'connected');
      await waitForPrompt(page);
      await typeLine(page, 'echo app-shell-$((6*7)) "$(whoami)"');
      const who = await lineValue(page, 'app-shell-42 ');
      assert.ok(who.length > 0);
      assert.ok(!(await page.evaluate(() => window.__kiln.text())).includes(pat), 'the token never reached the terminal');
      // The shell's parent is the app's process: kiln, unpacked by launch.py from the release build.
      await typeLine(page, 'echo "kiln-pid=$PPID"; echo "kiln-exe=$(readlink /proc/$PPID/exe)"; echo "kiln-sha=$(sha256sum < /proc/$PPID/exe)"');
      const firstPid = Number(await lineValue(page, 'kiln-pid='));
      assert.ok(firstPid > 1);
      assert.match(await lineValue(page, 'kiln-exe='), new RegExp(`/\\.kiln/bin/kiln-${releaseSha.slice(0, 16)}$`));
      assert.equal((await lineValue(page, 'kiln-sha=')).split(/\s/)[0], releaseSha);

      // Claude Code, installed once into the cache (a prefix of links to it here), configured
      // by kiln in the app's HOME for the app's model gateway, answers from the emulator's
      // serving endpoint. Proxies point at a closed port: nothing but loopback is reachable.
      const prefix = join(dir, 'agents');
      await mkdir(join(prefix, 'bin'), { recursive: true });
      await symlink(join(AGENT_CACHE, 'lib'), join(prefix, 'lib'));
      await symlink(join(AGENT_CACHE, 'bin', 'claude'), join(prefix, 'bin', 'claude'));
      // launch.py's link (a login shell may reset PATH, as Debian's /etc/profile does).
      await typeLine(page, `~/.kiln/bin/kiln agents setup --agents claude --prefix ${prefix} && echo "setup-done=$?"`);
      await waitFor(page, 'kiln agents setup', () => /setup-done=0/.test(window.__kiln?.text() ?? ''), undefined);
      await typeLine(
        page,
        'export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
      );
      await typeLine(page, `${prefix}/bin/claude -p 'say hello from the app' --output-format text`);
      await page
        .waitForFunction((m) => (window.__kiln?.text() ?? '').split('\n').some((l) => l.startsWith(m) && l.includes('say hello from the app')), ANSWER_MARKER, {
          timeout: 180_000,
          polling: 200,
        })
        .catch(async (e) => {
          throw new Error(`no answer from Claude Code:\n${await page.evaluate(() => window.__kiln.text())}\n(${e.message})`);
        });
      await saveScreenshot(page, 'app-deploy-agent');
      // The model call reached the workspace from kiln's gateway, with the token kiln minted
      // from the pasted one: as the creator. Claude Code itself held only the gateway's key.
      const { requests } = await (await fetch(`${emu.host}/__emulator/requests`)).json();
      const calls = requests.filter((r) => r.method === 'POST' && /anthropic\/v1\/messages$/.test(r.path));
      assert.ok(
        calls.some((r) => r.status === 200 && r.identity === ALICE),
        `a messages call as ${ALICE}: ${JSON.stringify(calls)}`,
      );

      // --- another user ------------------------------------------------------------------------
      // Without CAN_USE: the platform's proxy refuses.
      const bob = await openAs(browser(), emu, BOB, `${appUrl}/`);
      uis.push(bob);
      await bob.page.getByText(`User ${BOB} does not have CAN_USE permission on app ${APP}`).waitFor({ timeout: WAIT_MS });
      // With CAN_USE granted by the creator: kiln itself refuses anyone but its owner.
      const grant = await fetch(`${emu.host}/api/2.0/permissions/apps/${APP}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${emu.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ access_control_list: [{ user_name: BOB, permission_level: 'CAN_USE' }] }),
      });
      assert.equal(grant.status, 200, await grant.text());
      const res = await bob.page.goto(`${appUrl}/`);
      assert.equal(res.status(), 403);
      assert.match(await bob.page.locator('body').innerText(), new RegExp(`This kiln belongs to ${ALICE}; you are signed in as ${BOB}`));
      const api = await bob.page.evaluate(async () => (await fetch('/api/status')).status);
      assert.equal(api, 403, 'the API refuses too');

      // --- a redeploy of a changed build is what the browser gets -------------------------------
      const changed = join(dir, 'kiln-changed');
      await copyFile(RELEASE_BIN, changed);
      await appendFile(changed, Buffer.from('\0kiln e2e: a changed build\0'));
      const changedSha = sha256(await readFile(changed));
      const second = await kiln(deployArgs(changed), env);
      assert.match(second.stdout, /uploaded 2 of \d+ files/, 'the description and the last part changed');
      assert.match(second.stdout, /SUCCEEDED/);
      await waitForExit(firstPid, WAIT_MS);

      const fresh = await openAs(browser(), emu, ALICE, `${appUrl}/`);
      uis.push(fresh);
      const p2 = fresh.page;
      // Tokens live only in kiln's memory (docs/security.md), and the old process revoked its
      // own when it stopped: the new build asks for one again.
      await pasteToken(p2, (await emu.admin('POST', '/tokens', { user: ALICE, lifetime_seconds: 3600 })).token_value);
      await waitForState(p2, 'connected');
      await waitForPrompt(p2);
      await typeLine(p2, 'echo "kiln-pid=$PPID"; echo "kiln-sha=$(sha256sum < /proc/$PPID/exe)"');
      const secondPid = Number(await lineValue(p2, 'kiln-pid='));
      assert.notEqual(secondPid, firstPid);
      assert.equal((await lineValue(p2, 'kiln-sha=')).split(/\s/)[0], changedSha, 'the live app runs the new build');

      // --- stop: kiln exits on SIGTERM within the platform's bound ------------------------------
      const stop = await fetch(`${emu.host}/api/2.0/apps/${APP}/stop`, { method: 'POST', headers: { authorization: `Bearer ${emu.token}` } });
      assert.equal(stop.status, 200, await stop.text());
      await waitForExit(secondPid, STOP_BOUND_MS);
      const logs = await (await fetch(`${emu.host}/__emulator/apps/${APP}/logs`)).text();
      assert.match(logs, /Stopping the app: SIGTERM/);
      assert.ok(!logs.includes('SIGKILL'), `kiln exited on SIGTERM by itself:\n${logs}`);
      assert.ok(!logs.includes(pat), 'the token is not in the app log');
      for (const ui of uis) assert.deepEqual(ui.pageErrors, []);
    } finally {
      for (const ui of uis) await ui.close();
      await emu.stop();
      await rm(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    }
  });
});
