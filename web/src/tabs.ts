// The tab strip and the set of tabs: restore every running session on load (in the saved layout
// of tabs and panes), new / split / close / rename / switch, keyboard navigation of the strip, and
// noticing sessions started elsewhere. `list` holds every pane (one session each); `groups` the
// strip's entries, each a tree of panes (panes.ts) that shows its focused pane in the strip.

import * as api from './api';
import { byId, h } from './dom';
import { type Dir, Group, type Layout, isLayoutNode } from './panes';
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
  /** The tabs, their panes or the panes' sizes changed: the layout to keep. */
  layoutChanged(layout: Layout): void;
}

export class Tabs {
  /** Every pane (one session each), strip order then pane order. */
  readonly list: Tab[] = [];
  /** The strip's entries. */
  readonly groups: Group[] = [];
  active: Tab | null = null;
  /** Layout changes are not saved until the saved one was applied. */
  private restored = false;
  private readonly strip = byId('tabs');
  private readonly empty = byId('empty');
  private readonly confirmDialog = byId<HTMLDialogElement>('confirm');
  private creating = 0;
  private readonly host: TabHost;
  /** The strip or its entries change width (a narrower window, a state such as "gone", a rename,
   *  a new tab): the active entry is kept in view, not pushed past the strip's edge. Sizes only:
   *  scrolling the strip by hand is left alone. */
  private readonly entrySizes = new ResizeObserver(() => this.active?.item.scrollIntoView?.({ block: 'nearest', inline: 'nearest' }));

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
    this.entrySizes.observe(this.strip);
    this.strip.addEventListener('keydown', (e) => this.onStripKey(e));
    this.strip.addEventListener('dblclick', (e) => {
      if ((e.target as Element).closest?.('.tab-rename')) return;
      const tab = this.list.find((t) => t.item.contains(e.target as Node));
      if (tab) this.beginRename(tab);
    });
    this.renderEmpty();
  }

  /**
   * Reattaches to every session the server has, in the saved `layout` (tabs, panes and their
   * sizes; sessions it does not know get a tab each); starts one when there is none.
   */
  async restore(layout?: unknown): Promise<void> {
    let sessions: api.Session[];
    try {
      sessions = await api.listSessions();
    } catch (e) {
      this.events.notify(`Could not list the sessions: ${(e as Error).message}`, 'error');
      sessions = [];
      if (e instanceof api.ApiError && e.status !== 0) return;
    }
    const saved = parseLayout(layout);
    const byId = new Map(sessions.map((s) => [s.id, s]));
    const placed = new Set<string>();
    let front: Tab | undefined;
    saved.tabs.forEach((node, i) => {
      // One pane per leaf: a session saved in two panes shows in two panes again.
      const group = Group.restore(
        node,
        (id) => {
          const s = byId.get(id);
          if (!s) return undefined;
          placed.add(id);
          const tab = this.newPane(s.label);
          tab.attach(s);
          return tab;
        },
        () => this.layoutChanged(),
      );
      if (!group) return;
      this.addGroup(group);
      if (i === saved.active) front = group.focused;
    });
    for (const s of sessions) if (!placed.has(s.id)) this.adopt(s);
    this.restored = true;
    const remembered = sessionStorage.getItem(ACTIVE_KEY);
    const first = this.list.find((t) => t.sessionId === remembered) ?? front ?? this.list[0];
    if (first) this.activate(first);
    else await this.create();
    this.layoutChanged();
  }

  /** The layout to keep: every strip entry's pane tree, and which one is in front. */
  layout(): Layout {
    const tabs = [];
    let active: number | undefined;
    for (const g of this.groups) {
      const node = g.serialize();
      if (!node) continue;
      if (this.active && g.has(this.active)) active = tabs.length;
      tabs.push(node);
    }
    return active === undefined ? { tabs } : { tabs, active };
  }

  private layoutChanged(): void {
    if (this.restored) this.events.layoutChanged(this.layout());
  }

  /** The strip entry that holds `tab`. */
  groupOf(tab: Tab): Group | undefined {
    return this.groups.find((g) => g.has(tab));
  }

  private newPane(label: string): Tab {
    const tab = new Tab(this.host, label);
    this.entrySizes.observe(tab.item);
    this.renderEmpty();
    return tab;
  }

  /** Adds a strip entry (at the end) with its panes. */
  private addGroup(group: Group): void {
    this.groups.push(group);
    this.list.push(...group.tabs());
    byId('panels').append(group.el);
    this.strip.append(group.focused.item);
    this.renderCount(group);
    this.renderEmpty();
  }

  /** The strip entry says how many panes it has. */
  private renderCount(group: Group): void {
    const n = group.size;
    for (const t of group.tabs()) {
      if (n > 1) t.item.dataset.panes = String(n);
      else delete t.item.dataset.panes;
    }
  }

  /**
   * Splits the active pane in two (`row`: side by side, `column`: one above the other); the new
   * pane gets a new shell and the focus. A refused shell takes its pane away again and says why.
   */
  async split(dir: Dir): Promise<Tab | null> {
    const target = this.active;
    const group = target && this.groupOf(target);
    if (!target || !group) return this.create();
    if (this.creating) return null;
    this.creating += 1;
    try {
      const tab = this.newPane(this.nextLabel());
      group.split(target, tab, dir);
      this.list.splice(this.list.indexOf(target) + 1, 0, tab);
      this.renderCount(group);
      this.activate(tab);
      const error = await tab.start(tab.label);
      if (!error) {
        this.layoutChanged();
        return tab;
      }
      this.remove(tab);
      if (this.list.includes(target)) this.activate(target);
      this.events.notify(`Could not start a shell: ${error}`, 'error');
      return null;
    } finally {
      this.creating -= 1;
    }
  }

  /** Moves the focus to the pane beside the active one. */
  focusPane(direction: 'left' | 'right' | 'up' | 'down'): void {
    const tab = this.active;
    const next = tab && this.groupOf(tab)?.neighbour(tab, direction);
    if (next) this.activate(next);
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
    const tab = this.newPane(label);
    this.addGroup(new Group(tab, () => this.layoutChanged()));
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
      if (!error) {
        this.layoutChanged();
        return tab;
      }
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

  /** Every pane that shows session `id` (a session may show in two panes). */
  private panesOf(id: string): Tab[] {
    return this.list.filter((t) => t.sessionId === id);
  }

  /** Session `id` was renamed elsewhere (the sessions panel): its panes follow. */
  renamed(id: string, label: string): void {
    for (const tab of this.panesOf(id)) {
      tab.label = label;
      tab.render();
    }
  }

  /** Session `id` was ended elsewhere (the sessions panel): its panes go away. */
  ended(id: string): void {
    for (const tab of this.panesOf(id)) {
      tab.detach();
      this.drop(tab);
    }
  }

  /**
   * Splits the active pane with a second view of the same session (both show the same shell;
   * the pane with the focus sets its size).
   */
  async mirror(dir: Dir): Promise<Tab | null> {
    const target = this.active;
    const group = target && this.groupOf(target);
    const id = target?.sessionId;
    if (!target || !group || !id) return null;
    let session: api.Session;
    try {
      session = await api.getSession(id);
    } catch (e) {
      this.events.notify(`Could not show the shell twice: ${(e as Error).message}`, 'error');
      return null;
    }
    if (!this.list.includes(target)) return null;
    const tab = this.newPane(session.label);
    group.split(target, tab, dir);
    this.list.splice(this.list.indexOf(target) + 1, 0, tab);
    this.renderCount(group);
    tab.attach(session);
    this.activate(tab);
    this.layoutChanged();
    return tab;
  }

  /** Takes `tab` away and activates what takes its place: a pane beside it, else the next tab. */
  private drop(tab: Tab): void {
    const group = this.groupOf(tab);
    const gi = group ? this.groups.indexOf(group) : -1;
    const wasActive = this.active === tab;
    this.remove(tab);
    if (wasActive) {
      const sameGroup = group && this.groups.includes(group) ? group.focused : undefined;
      const nextGroup = this.groups[Math.min(gi, this.groups.length - 1)];
      const next = sameGroup ?? nextGroup?.focused;
      if (next) this.activate(next);
      else this.events.changed(null);
    }
    this.renderEmpty();
    this.layoutChanged();
  }

  /** Carries out an app shortcut: the tab ones here, the rest by the app. */
  act(action: Action): void {
    const current = this.active ? this.groupOf(this.active) : undefined;
    const i = current ? this.groups.indexOf(current) : -1;
    const n = this.groups.length;
    const go = (group: Group | undefined) => {
      if (group) this.activate(group.focused);
    };
    switch (action.kind) {
      case 'newTab':
        void this.create();
        return;
      case 'closeTab':
        if (this.active) void this.close(this.active);
        return;
      case 'prevTab':
        if (n) go(this.groups[(i - 1 + n) % n]);
        return;
      case 'nextTab':
        if (n) go(this.groups[(i + 1) % n]);
        return;
      case 'gotoTab':
        go(this.groups[action.index]);
        return;
      case 'split':
        void this.split(action.dir);
        return;
      case 'mirror':
        void this.mirror('row');
        return;
      case 'focusPane':
        this.focusPane(action.direction);
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

  /** Takes `tab` out of the list, its strip entry and the page (its session is left alone). */
  private remove(tab: Tab): void {
    this.entrySizes.unobserve(tab.item);
    const i = this.list.indexOf(tab);
    if (i >= 0) this.list.splice(i, 1);
    if (this.active === tab) this.active = null;
    const group = this.groupOf(tab);
    if (group) {
      if (group.remove(tab)) {
        // The entry stays: it shows its remaining focused pane.
        if (tab.item.isConnected) tab.item.replaceWith(group.focused.item);
        this.renderCount(group);
      } else {
        this.groups.splice(this.groups.indexOf(group), 1);
        group.el.remove();
      }
    }
    tab.dispose();
  }

  private nextLabel(): string {
    const used = new Set(this.list.map((t) => t.label));
    for (let n = 1; ; n++) if (!used.has(`shell ${n}`)) return `shell ${n}`;
  }

  activate(tab: Tab): void {
    if (this.active && this.active !== tab) this.active.setActive(false);
    const group = this.groupOf(tab);
    if (group) {
      for (const g of this.groups) g.setVisible(g === group);
      if (group.focused !== tab) {
        if (group.focused.item.isConnected) group.focused.item.replaceWith(tab.item);
        group.focused = tab;
      }
    }
    const switched = this.active !== tab;
    this.active = tab;
    tab.setActive(true);
    if (switched) this.layoutChanged();
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
    // A second view of a session closes alone: the shell goes on in the other pane.
    if (tab.sessionId && this.panesOf(tab.sessionId).length > 1) {
      const hadFocus = tab.panel.contains(document.activeElement);
      tab.detach();
      this.drop(tab);
      if (hadFocus) this.active?.term.focus();
      return;
    }
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
    const wasActive = this.active === tab;
    const hadFocus = tab.item.contains(document.activeElement) || tab.panel.contains(document.activeElement);
    this.drop(tab);
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
    const i = this.groups.findIndex((g) => g.focused.button === e.target);
    if (i < 0) return;
    const tab = this.groups[i]!.focused;
    const n = this.groups.length;
    let target: Tab | undefined;
    if (e.key === 'ArrowRight') target = this.groups[(i + 1) % n]?.focused;
    else if (e.key === 'ArrowLeft') target = this.groups[(i - 1 + n) % n]?.focused;
    else if (e.key === 'Home') target = this.groups[0]?.focused;
    else if (e.key === 'End') target = this.groups[n - 1]?.focused;
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
    // Chrome that acts on a terminal (the phone's key row) has nothing to act on.
    document.body.classList.toggle('no-terminal', this.list.length === 0);
  }
}

/** The saved layout, or none when `v` is not one (a hand-edited or older file). */
function parseLayout(v: unknown): Layout {
  if (typeof v !== 'object' || v === null) return { tabs: [] };
  const o = v as Record<string, unknown>;
  const tabs = Array.isArray(o.tabs) ? o.tabs.filter((n) => isLayoutNode(n)) : [];
  return { tabs, active: typeof o.active === 'number' ? o.active : undefined };
}
