// The tab strip and the set of tabs: restore every running session on load, new / close /
// rename / switch, keyboard navigation of the strip, and noticing sessions started elsewhere.

import * as api from './api';
import { byId, h } from './dom';
import { Tab, type TabHost } from './tab';
import type { RendererChoice } from './terminal';
import type { Modifiers } from './modifiers';
import type { Effective } from './settings';
import type { Action } from './shortcuts';

/** Longest label the server accepts. */
const MAX_LABEL_CHARS = 64;
/** sessionStorage key of the active session. */
const ACTIVE_KEY = 'kiln.active';

export interface TabsEvents {
  /** The active tab, its state or its size changed. */
  changed(active: Tab | null): void;
  notify(message: string, kind?: 'info' | 'error'): void;
  openSearch(): void;
  copyOnSelect(): boolean;
  settings(): Effective;
  fontStep(step: -1 | 0 | 1): void;
  /** An app shortcut that is not about tabs (help). */
  action(action: Action): void;
}

export class Tabs {
  readonly list: Tab[] = [];
  active: Tab | null = null;
  private readonly strip = byId('tabs');
  private readonly empty = byId('empty');
  private readonly confirmDialog = byId<HTMLDialogElement>('confirm');
  private creating = 0;
  private readonly host: TabHost;

  constructor(
    private readonly events: TabsEvents,
    switches: { forcePoll: boolean; renderer: RendererChoice; modifiers: Modifiers },
  ) {
    this.host = {
      activate: (tab) => this.activate(tab),
      requestClose: (tab) => void this.close(tab),
      goneCount: () => this.list.filter((t) => t.isGone).length,
      restartGone: () => this.restartGone(),
      goneChanged: () => {
        for (const t of this.list) if (t.isGone) t.renderGone();
      },
      changed: (tab) => {
        if (tab !== this.active) return;
        this.rememberActive();
        this.events.changed(tab);
      },
      notify: (m, k) => this.events.notify(m, k),
      openSearch: () => this.events.openSearch(),
      copyOnSelect: () => this.events.copyOnSelect(),
      settings: () => this.events.settings(),
      fontStep: (step) => this.events.fontStep(step),
      action: (a) => this.act(a),
      ...switches,
    };
    this.strip.addEventListener('keydown', (e) => this.onStripKey(e));
    this.strip.addEventListener('dblclick', (e) => {
      const tab = this.list.find((t) => t.item.contains(e.target as Node));
      if (tab) this.beginRename(tab);
    });
    this.renderEmpty();
  }

  /** Reattaches to every session the server has; starts one when there is none. */
  async restore(): Promise<void> {
    let sessions: api.Session[];
    try {
      sessions = await api.listSessions();
    } catch (e) {
      this.events.notify(`Could not list the sessions: ${(e as Error).message}`, 'error');
      sessions = [];
      if (e instanceof api.ApiError && e.status !== 0) return;
    }
    for (const s of sessions) this.adopt(s);
    const remembered = sessionStorage.getItem(ACTIVE_KEY);
    const first = this.list.find((t) => t.sessionId === remembered) ?? this.list[0];
    if (first) this.activate(first);
    else await this.create();
  }

  /** Adds tabs for sessions started elsewhere (another window) since the last look. */
  async refresh(): Promise<void> {
    if (this.creating) return;
    let sessions: api.Session[];
    try {
      sessions = await api.listSessions();
    } catch {
      return; // the tabs' own transports report the trouble
    }
    if (this.creating) return;
    const known = new Set(this.list.map((t) => t.sessionId));
    for (const s of sessions) if (!known.has(s.id)) this.adopt(s);
    this.renderEmpty();
  }

  private adopt(session: api.Session): Tab {
    const tab = this.add(session.label);
    tab.attach(session);
    return tab;
  }

  private add(label: string): Tab {
    const tab = new Tab(this.host, label);
    this.list.push(tab);
    this.strip.append(tab.item);
    this.renderEmpty();
    return tab;
  }

  /**
   * Opens a new tab with a new shell. When the server refuses (the session limit, memory), the
   * tab goes away again and one message says why: no dead tabs pile up.
   */
  async create(): Promise<Tab | null> {
    if (this.creating) return null; // one at a time: repeated clicks do not queue more shells
    this.creating += 1;
    const previous = this.active;
    try {
      const tab = this.add(this.nextLabel());
      this.activate(tab);
      const error = await tab.start(tab.label);
      if (!error) return tab;
      this.remove(tab);
      if (previous && this.list.includes(previous)) this.activate(previous);
      else if (this.list[0]) this.activate(this.list[0]);
      else this.events.changed(null);
      this.renderEmpty();
      this.events.notify(`Could not start a shell: ${error}`, 'error');
      return null;
    } finally {
      this.creating -= 1;
    }
  }

  /** The tab that shows session `id`, if any. */
  bySession(id: string): Tab | undefined {
    return this.list.find((t) => t.sessionId === id);
  }

  /** Shows `session` in its tab, adopting it first when this window has none for it. */
  attachSession(session: api.Session): void {
    const tab = this.bySession(session.id) ?? this.adopt(session);
    this.activate(tab);
  }

  /** Session `id` was renamed elsewhere (the sessions panel): the tab follows. */
  renamed(id: string, label: string): void {
    const tab = this.bySession(id);
    if (!tab) return;
    tab.label = label;
    tab.render();
  }

  /** Session `id` was ended elsewhere (the sessions panel): its tab goes away. */
  ended(id: string): void {
    const tab = this.bySession(id);
    if (!tab) return;
    const i = this.list.indexOf(tab);
    const wasActive = this.active === tab;
    tab.detach();
    this.remove(tab);
    if (wasActive) {
      const next = this.list[Math.min(i, this.list.length - 1)];
      if (next) this.activate(next);
      else this.events.changed(null);
    }
    this.renderEmpty();
  }

  /** Carries out an app shortcut: the tab ones here, the rest by the app. */
  act(action: Action): void {
    const i = this.active ? this.list.indexOf(this.active) : -1;
    const n = this.list.length;
    const go = (tab: Tab | undefined) => {
      if (tab) this.activate(tab);
    };
    switch (action.kind) {
      case 'newTab':
        void this.create();
        return;
      case 'closeTab':
        if (this.active) void this.close(this.active);
        return;
      case 'prevTab':
        if (n) go(this.list[(i - 1 + n) % n]);
        return;
      case 'nextTab':
        if (n) go(this.list[(i + 1) % n]);
        return;
      case 'gotoTab':
        go(this.list[action.index]);
        return;
      default:
        this.events.action(action);
    }
  }

  /** Applies changed settings to every terminal. */
  applySettings(e: Effective): void {
    for (const t of this.list) t.applySettings(e);
  }

  /** Starts a new shell in every tab whose session is gone (after a server restart). */
  restartGone(): void {
    for (const t of this.list) if (t.isGone) void t.start(t.label);
  }

  /** Takes `tab` out of the list and the page (its session is left alone). */
  private remove(tab: Tab): void {
    const i = this.list.indexOf(tab);
    if (i >= 0) this.list.splice(i, 1);
    if (this.active === tab) this.active = null;
    tab.dispose();
  }

  private nextLabel(): string {
    const used = new Set(this.list.map((t) => t.label));
    for (let n = 1; ; n++) if (!used.has(`shell ${n}`)) return `shell ${n}`;
  }

  activate(tab: Tab): void {
    if (this.active && this.active !== tab) this.active.setActive(false);
    this.active = tab;
    tab.setActive(true);
    tab.item.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
    this.rememberActive();
    this.events.changed(tab);
  }

  /** The active session survives a reload of this browser tab. */
  private rememberActive(): void {
    const id = this.active?.sessionId;
    if (id && sessionStorage.getItem(ACTIVE_KEY) !== id) sessionStorage.setItem(ACTIVE_KEY, id);
  }

  /** Closes `tab`, ending its shell (after a confirmation while it runs). */
  async close(tab: Tab): Promise<void> {
    const running = tab.sessionId && !tab.exit && (tab.state.kind === 'connected' || tab.state.kind === 'connecting');
    if (running && !(await this.confirm(`End the shell in “${tab.label}” and close its tab?`))) return;
    const id = tab.sessionId;
    tab.detach();
    if (id) {
      try {
        await api.deleteSession(id);
      } catch (e) {
        this.events.notify(`Could not end the shell: ${(e as Error).message}`, 'error');
      }
    }
    const i = this.list.indexOf(tab);
    const wasActive = this.active === tab;
    const hadFocus = tab.item.contains(document.activeElement) || tab.panel.contains(document.activeElement);
    this.remove(tab);
    if (wasActive) {
      const next = this.list[Math.min(i, this.list.length - 1)];
      if (next) this.activate(next);
      else this.events.changed(null);
    }
    this.renderEmpty();
    // Keyboard users keep a place to be: the next tab's terminal, or the empty page's button.
    if (!this.list.length) byId('empty-new').focus();
    else if (hadFocus && !wasActive) this.active?.button.focus();
  }

  private confirm(text: string): Promise<boolean> {
    const dialog = this.confirmDialog;
    if (typeof dialog.showModal !== 'function') return Promise.resolve(window.confirm(text));
    byId('confirm-text').textContent = text;
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
    });
  }

  /**
   * Replaces the tab's button with a text field; Enter or leaving it renames, Escape cancels.
   * The field sits beside the button, not inside it: inside, Space would press the button, which
   * focuses the terminal, and the rest of the name would be typed into the shell.
   */
  beginRename(tab: Tab): void {
    if (!tab.sessionId || tab.item.querySelector('.tab-rename')) return;
    const input = h('input', {
      class: 'tab-rename',
      'aria-label': 'New name for this tab',
      maxlength: String(MAX_LABEL_CHARS),
      value: tab.label,
    });
    tab.button.hidden = true;
    tab.item.insertBefore(input, tab.button);
    input.focus();
    input.select();
    let done = false;
    const finish = async (commit: boolean, refocus: boolean) => {
      if (done) return;
      done = true;
      const label = input.value.trim();
      input.remove();
      tab.button.hidden = false;
      if (refocus) tab.button.focus();
      if (commit && label && label !== tab.label) {
        try {
          await tab.rename(label);
        } catch (e) {
          this.events.notify(`Could not rename: ${(e as Error).message}`, 'error');
        }
      }
    };
    // Every key stays in the field (none reaches the strip's shortcuts or the terminal).
    for (const type of ['keydown', 'keypress', 'keyup'] as const) {
      input.addEventListener(type, (e) => {
        e.stopPropagation();
        if (type !== 'keydown') return;
        if (e.key === 'Enter') {
          e.preventDefault();
          void finish(true, true);
        } else if (e.key === 'Escape') {
          e.preventDefault();
          void finish(false, true);
        }
      });
    }
    input.addEventListener('click', (e) => e.stopPropagation());
    input.addEventListener('dblclick', (e) => e.stopPropagation());
    input.addEventListener('blur', () => void finish(true, false));
  }

  private onStripKey(e: KeyboardEvent): void {
    const i = this.list.findIndex((t) => t.button === e.target);
    if (i < 0) return;
    const tab = this.list[i]!;
    let target: Tab | undefined;
    if (e.key === 'ArrowRight') target = this.list[(i + 1) % this.list.length];
    else if (e.key === 'ArrowLeft') target = this.list[(i - 1 + this.list.length) % this.list.length];
    else if (e.key === 'Home') target = this.list[0];
    else if (e.key === 'End') target = this.list[this.list.length - 1];
    else if (e.key === 'F2') {
      e.preventDefault();
      this.beginRename(tab);
      return;
    } else if (e.key === 'Delete') {
      e.preventDefault();
      void this.close(tab);
      return;
    }
    if (target) {
      e.preventDefault();
      this.activate(target);
      target.button.focus();
    }
  }

  private renderEmpty(): void {
    this.empty.hidden = this.list.length > 0;
  }
}
