// The Databricks token in the UI. When kiln has no usable token, a dialog asks for a personal
// access token: a link to the workspace's access-token page, a masked field, and the token goes
// to POST /api/credentials only (never into a shell). A banner shows while renewing fails or the
// token is left to lapse, with the time left; an indicator in the status bar shows the state and
// the next renewal. `window.__kilnCredentials` is a read-only view for the browser tests.

import { ApiError } from './api';
import {
  type CredentialsStatus,
  bannerText,
  clock,
  fetchCredentials,
  lifetimePhrase,
  pasteToken,
  tokenRelevant,
} from './credentials-api';
import { h } from './dom';
import { type Level, type StatusSlot, statusArea, statusSlot } from './status-area';

/** How often the state is read (ms); the countdowns tick every second in between. */
const POLL_MS = 3000;
const TICK_MS = 1000;

/** What the credentials UI needs from the page. */
export interface CredentialsHooks {
  notify: (message: string, kind?: 'info' | 'error') => void;
}

function safeUrl(raw: string | null): string | null {
  if (!raw) return null;
  try {
    const u = new URL(raw);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
  } catch {
    return null;
  }
}

function tokenLevel(state: CredentialsStatus['token']['state']): Level {
  if (state === 'active' || state === 'delegated') return 'ok';
  if (state === 'needs_token') return 'bad';
  return 'warn';
}

/** The overview's details: time left, the last rotation, failures. */
function tokenDetail(st: CredentialsStatus, elapsed: number): string {
  const t = st.token;
  const left = (v: number | null | undefined) => (v == null ? null : clock(Math.max(0, v - elapsed)));
  const lines: string[] = [];
  if (st.workspace) lines.push(`Workspace: ${st.workspace}${st.owner.email ? ` (owner ${st.owner.email})` : ''}.`);
  const expires = left(t.expires_in_seconds);
  if (expires) lines.push(`Valid for ${expires}${left(t.rotates_in_seconds) ? `; renewed in ${left(t.rotates_in_seconds)}` : ''}.`);
  const ago = t.last_rotation_seconds_ago;
  lines.push(
    `Renewed ${t.rotations ?? 0} time${t.rotations === 1 ? '' : 's'}${ago == null ? '' : `, last ${clock(Math.max(0, ago + elapsed))} ago`}.`,
  );
  if (t.failures) lines.push(`Failed renewals in a row: ${t.failures}${t.error ? ` (${t.error})` : ''}.`);
  if (t.state === 'needs_token') lines.push('kiln needs a personal access token: paste one.');
  return lines.join('\n');
}

class CredentialsUi {
  private status: CredentialsStatus | null = null;
  private fetchedAt = 0;
  private hadToken = false;
  /** Status reads started so far, and the last one started before the latest paste. */
  private fetches = 0;
  private staleUpTo = 0;
  /** The "need" the user dismissed the dialog for; it opens again for a new one. */
  private dismissedFor: string | null = null;
  private readonly dialog: HTMLDialogElement;
  private readonly form: HTMLFormElement;
  private readonly input: HTMLInputElement;
  private readonly error: HTMLElement;
  private readonly link: HTMLAnchorElement;
  private readonly intro: HTMLElement;
  private readonly submit: HTMLButtonElement;
  private readonly banner: HTMLElement;
  private readonly bannerMessage: HTMLElement;
  private readonly bannerPaste: HTMLButtonElement;
  private readonly indicator: HTMLButtonElement;
  private readonly slot: StatusSlot;

  constructor(private readonly hooks: CredentialsHooks) {
    this.intro = h('p', { class: 'cred-intro' });
    this.link = h('a', { id: 'credentials-token-page', target: '_blank', rel: 'noopener noreferrer' }, 'access tokens page');
    this.input = h('input', {
      id: 'credentials-token',
      class: 'cred-input',
      type: 'password',
      name: 'kiln-databricks-token',
      autocomplete: 'off',
      autocapitalize: 'off',
      spellcheck: 'false',
      placeholder: 'dapi…',
      'aria-label': 'Databricks personal access token',
    });
    this.error = h('p', { id: 'credentials-error', class: 'cred-error', role: 'alert' });
    this.submit = h('button', { class: 'button primary', type: 'submit', value: 'use' }, 'Use token');
    const later = h('button', { class: 'button', type: 'button' }, 'Later');
    later.addEventListener('click', () => this.dismiss());
    this.form = h(
      'form',
      { class: 'cred-form' },
      h('h2', { id: 'credentials-title', class: 'cred-title' }, 'Databricks token needed'),
      this.intro,
      h(
        'ol',
        { class: 'cred-steps' },
        h('li', {}, 'Open your workspace’s ', this.link, ' (it opens in a new tab).'),
        h('li', {}, 'Generate a new token; a short lifetime, such as one day, is enough.'),
        h('li', {}, 'Paste it here. kiln replaces it at once with its own short-lived tokens.'),
      ),
      this.input,
      this.error,
      h('div', { class: 'dialog-buttons' }, later, this.submit),
    );
    this.form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.paste();
    });
    this.dialog = h('dialog', { id: 'credentials-dialog', class: 'dialog cred-dialog', 'aria-labelledby': 'credentials-title' }, this.form);
    this.dialog.addEventListener('cancel', (e) => {
      e.preventDefault();
      this.dismiss();
    });
    document.body.append(this.dialog);

    this.bannerMessage = h('span', { class: 'cred-banner-text' });
    this.bannerPaste = h('button', { class: 'link-button', type: 'button', hidden: true }, 'Paste a token');
    this.bannerPaste.addEventListener('click', () => this.open());
    this.banner = h('div', { id: 'credentials-banner', class: 'cred-banner', role: 'status', hidden: true }, this.bannerMessage, this.bannerPaste);
    document.body.append(this.banner);

    this.slot = statusSlot({
      id: 'credentials-indicator',
      name: 'Databricks token',
      order: 10,
      className: 'cred-indicator',
      open: () => {
        if (this.status?.token.state === 'needs_token') this.open();
        else statusArea().openOverview();
      },
      openLabel: 'Paste a token',
    });
    this.indicator = this.slot.button;
  }

  start(): void {
    void this.refresh();
    setInterval(() => void this.refresh(), POLL_MS);
    setInterval(() => this.render(), TICK_MS);
  }

  async refresh(): Promise<void> {
    const seq = ++this.fetches;
    try {
      const status = await fetchCredentials();
      // A read started before a paste finished describes the state before it: drop it.
      if (seq <= this.staleUpTo) return;
      this.status = status;
      this.fetchedAt = performance.now();
    } catch {
      // Offline or refused: keep showing the last state; the terminals say what is wrong.
    }
    this.render();
  }

  private needKey(): string {
    return this.status?.token.reason ?? 'first';
  }

  private render(): void {
    const st = this.status;
    if (!st || !tokenRelevant(st)) {
      this.banner.hidden = true;
      this.slot.hide();
      return;
    }
    const t = st.token;
    const elapsed = (performance.now() - this.fetchedAt) / 1000;
    if (t.state !== 'needs_token') this.hadToken = true;
    if (t.state === 'needs_token' && !this.dialog.open && this.dismissedFor !== this.needKey()) this.open();

    const text = bannerText(t, elapsed, this.hadToken);
    this.banner.hidden = text === '';
    this.banner.dataset.state = t.state;
    this.bannerMessage.textContent = text;
    this.bannerPaste.hidden = t.state !== 'needs_token';

    const left = (v: number | null | undefined) => (v == null ? 0 : Math.max(0, v - elapsed));
    let label: string;
    switch (t.state) {
      case 'active':
        label = `token ✓ renews in ${clock(left(t.rotates_in_seconds))}`;
        break;
      case 'retrying':
        label = `token ⚠ renewal failing, valid ${clock(left(t.expires_in_seconds))}`;
        break;
      case 'lapsing':
        label = `token expires in ${clock(left(t.expires_in_seconds))}`;
        break;
      default:
        label = 'no Databricks token';
    }
    this.slot.update({ text: label, level: tokenLevel(t.state), detail: tokenDetail(st, elapsed), action: t.state === 'needs_token' ? 'Paste a token' : null });
    this.indicator.dataset.state = t.state;
    this.indicator.dataset.generation = String(t.generation ?? 0);
    this.indicator.dataset.rotations = String(t.rotations ?? 0);
    this.indicator.title =
      t.state === 'needs_token'
        ? 'kiln needs a Databricks personal access token: click to paste one'
        : `Databricks token ${t.token_id?.slice(0, 8) ?? ''}… for ${st.workspace ?? 'the workspace'}; ` +
          `renewed ${t.rotations ?? 0} times, automatically, before it expires`;
  }

  open(): void {
    const st = this.status;
    if (!st) return;
    const url = safeUrl(st.token_page_url);
    if (url) this.link.href = url;
    else this.link.removeAttribute('href');
    const owner = st.owner.email;
    const reason = st.token.reason ? `${st.token.reason[0].toUpperCase()}${st.token.reason.slice(1)}. ` : '';
    this.intro.textContent =
      reason +
      `kiln needs a personal access token${owner ? ` of ${owner}` : ''} for ${st.workspace ?? 'the workspace'}. ` +
      `It uses it once, to create its own ${lifetimePhrase(st.token.lifetime_seconds ?? 900)} tokens that it renews by itself, ` +
      'and revokes the pasted token when it can identify it.';
    this.error.textContent = '';
    this.input.value = '';
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
  }

  private dismiss(): void {
    this.dismissedFor = this.needKey();
    this.input.value = '';
    this.dialog.close();
  }

  private async paste(): Promise<void> {
    const token = this.input.value.trim();
    if (!token) {
      this.error.textContent = 'Paste a token first.';
      return;
    }
    this.submit.disabled = true;
    this.error.textContent = '';
    try {
      const result = await pasteToken(token);
      this.staleUpTo = this.fetches;
      this.input.value = '';
      this.dismissedFor = null;
      this.dialog.close();
      this.hooks.notify(result.message);
      await this.refresh();
    } catch (e) {
      this.error.textContent = e instanceof ApiError ? e.message : String(e);
    } finally {
      this.submit.disabled = false;
    }
  }

  view() {
    return Object.freeze({
      status: () => this.status,
      dialogOpen: () => this.dialog.open,
      banner: () => (this.banner.hidden ? '' : (this.bannerMessage.textContent ?? '')),
      indicator: () => (this.indicator.hidden ? '' : (this.indicator.textContent ?? '')),
    });
  }
}

/** Builds the dialog, banner and indicator and starts following the token state. */
export function startCredentials(hooks: CredentialsHooks): void {
  const ui = new CredentialsUi(hooks);
  Object.defineProperty(window, '__kilnCredentials', { value: ui.view() });
  ui.start();
}
