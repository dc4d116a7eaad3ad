// One tab: a terminal, the session it shows, the transport that streams it, and what the user
// sees about them (connection state, exit, a banner offering the next step).

import * as api from './api';
import { debounce, h } from './dom';
import { installKeys } from './keys';
import { KilnTerminal, type RendererChoice } from './terminal';
import { type ConnState, Transport } from './transport';
import { acceptFiles, uploadFiles } from './upload';
import { PasteStream, STREAM_PASTE_BYTES, megabytes, pasteBytes } from './paste';
import type { Modifiers } from './modifiers';
import type { Effective } from './settings';
import type { Action } from './shortcuts';

/** A tab's state: the transport's, or before/without one. */
export type TabState = ConnState | { kind: 'starting' } | { kind: 'failed'; message: string };

/** What a tab needs from the app around it. */
export interface TabHost {
  activate(tab: Tab): void;
  requestClose(tab: Tab): void;
  /** How many tabs show a session that is gone (the server restarted). */
  goneCount(): number;
  /** Starts new shells in all of them. */
  restartGone(): void;
  /** A tab's session went away: the others update their "all tabs" offer. */
  goneChanged(): void;
  changed(tab: Tab): void;
  notify(message: string, kind?: 'info' | 'error'): void;
  openSearch(): void;
  copyOnSelect(): boolean;
  /** The owner's settings as the terminals use them. */
  settings(): Effective;
  /** Ctrl+= / Ctrl+- / Ctrl+0 in a terminal. */
  fontStep(step: -1 | 0 | 1): void;
  /** An app shortcut typed in a terminal. */
  action(action: Action): void;
  /** The extra-keys row's sticky Ctrl and Alt (applied to the next key typed). */
  modifiers: Modifiers;
  /** Debug/test switches from the page URL: `?transport=poll`, `?renderer=dom|webgl`. */
  forcePoll: boolean;
  renderer: RendererChoice;
}

const encoder = new TextEncoder();
/** Sessions with at most this much output are replayed whole on attach (their full scrollback). */
const REPLAY_MAX_BYTES = 2 << 20;
let nextTabNumber = 1;

/** "exited with code 3" / "was killed by signal 9". */
export function describeExit(exit: api.ExitStatus): string {
  if (exit.signal !== null) return `was killed by signal ${exit.signal}`;
  return `exited with code ${exit.code ?? '?'}`;
}

export class Tab {
  readonly domId = `t${nextTabNumber++}`;
  sessionId: string | null = null;
  label: string;
  title = '';
  state: TabState = { kind: 'starting' };
  exit: api.ExitStatus | null = null;
  /** Output arrived while the tab was in the background. */
  activity = false;
  readonly item: HTMLElement;
  readonly button: HTMLButtonElement;
  readonly panel: HTMLElement;
  readonly term: KilnTerminal;
  private readonly labelEl: HTMLElement;
  private readonly closeButton: HTMLButtonElement;
  private readonly titleEl: HTMLElement;
  private readonly dot: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly bannerText: HTMLElement;
  private readonly bannerActions: HTMLElement;
  private readonly stateEl: HTMLElement;
  private readonly resizeObserver: ResizeObserver;
  private transport: Transport | undefined;
  /** The large paste being streamed, if any. */
  private paste: PasteStream | undefined;
  /** Its progress (tests read it). */
  pasteProgress: { sent: number; total: number } | null = null;

  /** Output flow control of the current transport (tests): bytes not yet drawn, paused, pauses. */
  get flow(): { unwritten: number; paused: boolean; pauses: number } | null {
    return this.transport?.flowState ?? null;
  }
  private inSnapshot = false;
  private active = false;
  /** Nothing was written to the terminal yet (a first attach may replay the whole output). */
  private fresh = true;
  /** The user was told that input waits for the connection (once per disconnection). */
  private warnedOffline = false;

  constructor(
    private readonly host: TabHost,
    label: string,
  ) {
    this.label = label;
    this.dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
    this.labelEl = h('span', { class: 'tab-label' }, label);
    this.titleEl = h('span', { class: 'tab-title' });
    this.stateEl = h('span', { class: 'tab-state', 'aria-hidden': 'true' });
    this.button = h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `${this.domId}-tab`,
        class: 'tab',
        'aria-selected': 'false',
        'aria-controls': `${this.domId}-panel`,
        tabindex: '-1',
      },
      this.dot,
      this.labelEl,
      this.titleEl,
      this.stateEl,
    );
    const close = h('button', { type: 'button', class: 'tab-close', tabindex: '-1', 'aria-label': `Close ${label}`, title: 'Close (Delete)' }, '×');
    this.closeButton = close;
    this.item = h('div', { class: 'tab-item', role: 'presentation' }, this.button, close);
    this.button.addEventListener('click', () => host.activate(this));
    this.button.addEventListener('auxclick', (e) => {
      if (e.button === 1) host.requestClose(this);
    });
    close.addEventListener('click', (e) => {
      e.stopPropagation();
      host.requestClose(this);
    });

    const termHost = h('div', { class: 'term-host' });
    const overlay = h('div', { class: 'drop-overlay', hidden: true }, 'Drop files to upload them to ~/uploads');
    this.bannerText = h('p', { class: 'banner-text' });
    this.bannerActions = h('div', { class: 'banner-actions' });
    this.banner = h('div', { class: 'banner', role: 'status', hidden: true }, this.bannerText, this.bannerActions);
    this.panel = h(
      'section',
      { class: 'panel inactive', role: 'tabpanel', id: `${this.domId}-panel`, 'aria-labelledby': `${this.domId}-tab` },
      termHost,
      overlay,
      this.banner,
    );
    document.getElementById('panels')?.append(this.panel);
    this.term = new KilnTerminal(termHost, { renderer: host.renderer });
    this.term.apply(host.settings());
    this.wireTerminal();
    acceptFiles(this.panel, overlay, (files) => this.upload(files));
    // Text of several lines would run as commands: ask first (a setting). Capture phase: before
    // xterm.js's own paste handler; files were taken by the uploader above.
    this.panel.addEventListener(
      'paste',
      (e) => {
        const text = e.clipboardData?.getData('text/plain') ?? '';
        if (!text) return;
        if (this.host.settings().pasteConfirm && /[\r\n]/.test(text)) {
          const lines = text.replace(/\r?\n$/, '').split(/\r?\n|\r/).length;
          const what = lines === 1 ? 'a line that ends with Enter' : `${lines} lines`;
          if (!window.confirm(`Paste ${what} into the shell? Each line may run as a command.`)) {
            e.preventDefault();
            e.stopImmediatePropagation();
            return;
          }
        }
        // Large text is streamed with progress (paste.ts) instead of handed to xterm.js at once.
        if (text.length * 3 < STREAM_PASTE_BYTES) return;
        const bytes = pasteBytes(text, this.term.term.modes.bracketedPasteMode);
        if (bytes.length < STREAM_PASTE_BYTES) return;
        e.preventDefault();
        e.stopImmediatePropagation();
        this.streamPaste(bytes);
      },
      { capture: true },
    );
    // A pane of a split tab takes the focus when clicked or focused (keyboard, a program).
    this.panel.addEventListener('pointerdown', () => {
      if (!this.active) host.activate(this);
    });
    this.panel.addEventListener('focusin', () => {
      if (!this.active) host.activate(this);
    });
    const refit = debounce(() => this.fitAndSync(), 60);
    this.resizeObserver = new ResizeObserver(refit);
    this.resizeObserver.observe(termHost);
  }

  private wireTerminal(): void {
    const t = this.term.term;
    t.onData((data) => this.input(encoder.encode(this.host.modifiers.apply(data))));
    t.onBinary((data) => {
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
      this.input(bytes);
    });
    t.onTitleChange((title) => {
      this.title = title;
      this.render();
    });
    t.onBell(() => {
      if (!this.active) this.item.classList.add('bell');
    });
    t.onSelectionChange(
      debounce(() => {
        if (this.host.copyOnSelect() && t.hasSelection()) void navigator.clipboard?.writeText(t.getSelection());
      }, 150),
    );
    t.textarea?.addEventListener('focus', () => this.fitAndSync());
    installKeys(t, {
      openSearch: () => this.host.openSearch(),
      leave: () => this.button.focus(),
      fontStep: (step) => this.host.fontStep(step),
      action: (a) => this.host.action(a),
      copied: (ok) => this.host.notify(ok ? 'Copied to the clipboard' : 'Could not copy', ok ? 'info' : 'error'),
    });
  }

  /** Shows an existing session (a snapshot of its screen, then live output). */
  attach(session: api.Session): void {
    this.transport?.stop();
    this.sessionId = session.id;
    this.label = session.label;
    this.exit = null;
    this.inSnapshot = false;
    this.hideBanner();
    // A fresh terminal replays the session's whole output when it is small enough: all of its
    // scrollback comes back (a snapshot carries only the last lines). It is written at the
    // session's size, then fitted, as a snapshot is.
    const replayUntil = this.fresh && session.offset > 0 && session.offset <= REPLAY_MAX_BYTES ? session.offset : null;
    this.fresh = false;
    if (replayUntil !== null) {
      this.inSnapshot = true;
      if (session.cols >= 2 && session.rows >= 1) this.term.term.resize(session.cols, session.rows);
    }
    let replaying = replayUntil !== null;
    const transport = new Transport(
      session.id,
      {
        output: (data, written) => {
          this.term.term.write(data, written);
          if (replaying && (transport.offset ?? 0) >= replayUntil!) {
            replaying = false;
            this.term.afterWrites(() => {
              this.inSnapshot = false;
              this.fitAndSync();
            });
          }
          if (!this.active && !this.activity && !this.inSnapshot) {
            this.activity = true;
            this.render();
          }
        },
        snapshotStart: (cols, rows) => {
          this.inSnapshot = true;
          this.term.afterWrites(() => {
            if (cols >= 2 && rows >= 1 && (cols !== this.term.term.cols || rows !== this.term.term.rows)) {
              this.term.term.resize(cols, rows);
            }
          });
        },
        snapshotEnd: () => {
          this.term.afterWrites(() => {
            this.inSnapshot = false;
            this.fitAndSync();
          });
        },
        attached: (snapshot) => {
          if (!snapshot) this.fitAndSync();
        },
        resized: () => this.render(),
        exit: (status) => this.exited(status),
        state: (state) => this.stateChanged(state),
        notice: (message) => this.host.notify(message, 'error'),
      },
      { forcePoll: this.host.forcePoll, offset: replayUntil === null ? undefined : 0 },
    );
    this.transport = transport;
    transport.start();
    this.render();
  }

  /**
   * Starts a new shell in this tab at the terminal's current size. Resolves with the server's
   * refusal (the banner then offers to try again) or undefined once the shell runs.
   */
  async start(label?: string): Promise<string | undefined> {
    this.transport?.stop();
    this.transport = undefined;
    this.sessionId = null;
    this.exit = null;
    this.hideBanner();
    this.state = { kind: 'starting' };
    this.render();
    const { cols, rows } = this.term.fitToHost();
    try {
      const session = await api.createSession(cols, rows, label);
      // The snapshot that attaching brings starts with a terminal reset.
      this.attach(session);
      if (this.active) this.term.focus();
      return undefined;
    } catch (e) {
      const message = (e as Error).message;
      this.state = { kind: 'failed', message };
      this.showBanner(`Could not start a shell: ${message}`, [
        ['Try again', () => void this.start(label)],
        ['Close tab', () => this.host.requestClose(this)],
      ]);
      this.render();
      return message;
    }
  }

  /** Whether the tab shows a session that no longer exists (it may get a new shell). */
  get isGone(): boolean {
    return !this.exit && (this.state.kind === 'gone' || this.state.kind === 'closed');
  }

  /** The banner of a gone session: a new shell here, or in every gone tab at once. */
  renderGone(): void {
    if (!this.isGone) return;
    const others = this.host.goneCount();
    const text =
      this.state.kind === 'closed'
        ? 'This shell was closed from another window.'
        : 'This shell no longer exists: the kiln server was restarted or the shell was ended.';
    const actions: [string, () => void][] = [];
    if (others > 1) actions.push([`New shells in all ${others} tabs`, () => this.host.restartGone()]);
    actions.push(['New shell', () => void this.start(this.label)], ['Close tab', () => this.host.requestClose(this)]);
    this.showBanner(text, actions);
  }

  /** Renames the session (PATCH); the label is shown once the server accepted it. */
  async rename(label: string): Promise<void> {
    if (!this.sessionId) return;
    const s = await api.renameSession(this.sessionId, label);
    this.label = s.label;
    this.render();
  }

  /** Types `text` at the prompt, as keystrokes. */
  type(text: string): void {
    this.input(encoder.encode(text));
  }

  /**
   * Sends keystrokes. While reconnecting they wait in the transport (bounded) and the user is told
   * once; when there is no shell to take them they are not sent, and the user is told why.
   */
  input(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const kind = this.exit ? 'exited' : this.state.kind;
    if (kind === 'starting') {
      this.host.notify('Not sent: the shell is still starting.', 'info');
      return;
    }
    if (!this.transport || kind === 'exited' || this.isGone || kind === 'failed' || kind === 'unauthorized' || kind === 'stopped') {
      this.host.notify('Not sent: this tab has no running shell (start a new one from its banner).', 'error');
      return;
    }
    const waiting = kind === 'reconnecting' || kind === 'offline' || (this.state.kind === 'connecting' && this.state.attempt > 0);
    if (waiting && !this.warnedOffline) {
      this.warnedOffline = true;
      this.host.notify('Not connected: what you type is kept and sent when the connection is back.', 'info');
    }
    this.transport.send(bytes);
  }

  /** See Transport.simulateDrop. */
  simulateDrop(): void {
    this.transport?.simulateDrop();
  }

  retryNow(): void {
    this.transport?.retryNow();
  }

  /** The terminal's size in cells. */
  get size(): { cols: number; rows: number } {
    return { cols: this.term.term.cols, rows: this.term.term.rows };
  }

  setActive(active: boolean): void {
    this.active = active;
    this.button.setAttribute('aria-selected', String(active));
    this.button.tabIndex = active ? 0 : -1;
    // The active tab's close button is the next stop after the strip (Tab from the tab).
    this.closeButton.tabIndex = active ? 0 : -1;
    this.panel.classList.toggle('inactive', !active);
    if (active) {
      this.activity = false;
      this.item.classList.remove('bell');
      this.fitAndSync();
      this.term.focus();
    }
    this.render();
  }

  /** Applies changed settings and refits (a new font size changes the cell count). */
  applySettings(e: Effective): void {
    this.term.apply(e);
    this.fitAndSync();
  }

  /** Fits the terminal to its panel and tells the server the size. */
  fitAndSync(): void {
    if (this.inSnapshot) return;
    const { cols, rows } = this.term.fitToHost();
    this.transport?.resize(cols, rows);
    this.host.changed(this);
  }

  /** Ends the stream (not the session) and frees the terminal. */
  dispose(): void {
    this.transport?.stop();
    this.transport = undefined;
    this.resizeObserver.disconnect();
    this.term.dispose();
    this.panel.remove();
    this.item.remove();
  }

  /** Stops streaming without disposing (before the session is deleted). */
  detach(): void {
    this.transport?.stop();
    this.transport = undefined;
  }

  /** Streams a large paste with a progress bar and a Cancel button above the terminal. */
  private streamPaste(bytes: Uint8Array): void {
    if (this.paste) {
      this.host.notify('A paste is still being sent to this shell: wait for it or cancel it.', 'error');
      return;
    }
    if (!this.transport || this.exit || this.isGone) {
      this.host.notify('Not sent: this tab has no running shell (start a new one from its banner).', 'error');
      return;
    }
    const bar = h('progress', { class: 'paste-bar', max: '100', value: '0', 'aria-label': 'Paste progress' });
    const text = h('span', { class: 'paste-text' });
    const cancel = h('button', { type: 'button', class: 'button' }, 'Cancel paste');
    const box = h('div', { class: 'paste-progress', role: 'status' }, text, bar, cancel);
    this.panel.append(box);
    this.term.term.scrollToBottom();
    const stream = new PasteStream(
      bytes,
      {
        send: (b) => this.transport?.send(b),
        backlog: () => this.transport?.backlog() ?? null,
        alive: () => !!this.transport && !this.exit && !this.isGone,
        progress: (sent, total) => {
          const pct = Math.floor((sent / total) * 100);
          bar.value = pct;
          const waiting = this.state.kind !== 'connected' ? ' (waiting for the connection)' : '';
          text.textContent = `Pasting ${megabytes(sent)} of ${megabytes(total)}${waiting}`;
          this.pasteProgress = { sent, total };
        },
      },
      this.term.term.modes.bracketedPasteMode,
    );
    this.paste = stream;
    cancel.addEventListener('click', () => {
      stream.cancel();
      this.term.focus();
    });
    void stream.done.then((how) => {
      this.paste = undefined;
      box.remove();
      if (how === 'cancelled') this.host.notify(`Paste cancelled after ${megabytes(stream.sent)} of ${megabytes(stream.total)}.`, 'info');
      else if (how === 'ended') this.host.notify(`Paste stopped: the shell is gone (${megabytes(stream.sent)} of ${megabytes(stream.total)} sent).`, 'error');
      else this.host.notify(`Pasted ${megabytes(stream.total)}.`, 'info');
    });
  }

  private upload(files: File[]): void {
    this.term.focus();
    void uploadFiles(files, { type: (text) => this.type(text), notify: (m, k) => this.host.notify(m, k) });
  }

  private exited(status: api.ExitStatus): void {
    this.exit = status;
    this.showBanner(`The shell ${describeExit(status)}.`, [
      ['New shell', () => void this.start(this.label)],
      ['Close tab', () => this.host.requestClose(this)],
    ]);
    this.render();
  }

  private stateChanged(state: ConnState): void {
    this.state = state;
    if (state.kind === 'connected') this.warnedOffline = false;
    if (state.kind === 'gone' || state.kind === 'closed') {
      this.renderGone();
      this.host.goneChanged();
    } else if (state.kind === 'unauthorized') {
      this.showBanner(
        'kiln no longer accepts this page’s access key (it restarted with a new one). Open the URL that kiln serve printed.',
        [['Reload', () => location.reload()]],
      );
    }
    this.render();
  }

  private showBanner(text: string, actions: [string, () => void][]): void {
    this.bannerText.textContent = text;
    this.bannerActions.replaceChildren(
      ...actions.map(([name, fn], i) => {
        const b = h('button', { type: 'button', class: i === 0 ? 'button primary' : 'button' }, name);
        b.addEventListener('click', fn);
        return b;
      }),
    );
    this.banner.hidden = false;
  }

  private hideBanner(): void {
    this.banner.hidden = true;
  }

  /** Updates the tab strip entry from the state. */
  render(): void {
    this.labelEl.textContent = this.label;
    this.titleEl.textContent = this.title && this.title !== this.label ? this.title : '';
    const kind = this.exit ? 'exited' : this.state.kind;
    this.dot.className = `dot ${kind}`;
    this.stateEl.textContent = shortState(this);
    this.item.classList.toggle('activity', this.activity);
    this.closeButton.setAttribute('aria-label', `Close ${this.label}`);
    const summary = tabSummary(this);
    this.button.title = this.title ? `${this.label}: ${this.title}\n${summary}` : `${this.label}\n${summary}`;
    this.button.setAttribute('aria-label', `${this.label}, ${summary}`);
    this.host.changed(this);
  }
}

/** The connection state in words ("connected", "reconnecting in 3 s", …). */
export function tabSummary(tab: Tab): string {
  if (tab.exit) return `shell ${describeExit(tab.exit)}`;
  const s = tab.state;
  switch (s.kind) {
    case 'starting':
      return 'starting';
    case 'failed':
      return `failed: ${s.message}`;
    case 'connecting':
      return s.attempt ? 'reconnecting' : 'connecting';
    case 'connected':
      return s.via === 'websocket' ? 'connected' : 'connected (HTTP long-poll)';
    case 'reconnecting': {
      const secs = Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000));
      return `reconnecting in ${secs} s (${s.reason})`;
    }
    case 'offline':
      return 'offline: waiting for the network';
    case 'gone':
      return 'session gone';
    case 'closed':
      return 'session closed';
    case 'unauthorized':
      return 'access key refused';
    case 'stopped':
      return 'stopped';
  }
}

/** A few words in the tab itself when it is not simply connected. */
function shortState(tab: Tab): string {
  if (tab.exit) return tab.exit.signal !== null ? `signal ${tab.exit.signal}` : `exit ${tab.exit.code ?? '?'}`;
  const s = tab.state;
  switch (s.kind) {
    case 'reconnecting':
      return `retry ${Math.max(0, Math.ceil((s.retryAt - Date.now()) / 1000))} s`;
    case 'connecting':
      return s.attempt ? 'reconnecting' : '';
    case 'offline':
      return 'offline';
    case 'gone':
      return 'gone';
    case 'closed':
      return 'closed';
    case 'failed':
      return 'failed';
    case 'unauthorized':
      return 'no access';
    default:
      return '';
  }
}
