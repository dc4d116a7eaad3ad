// Entry point of the kiln web UI: CSP shims first, then the tabs, status bar, search bar and
// toolbar, then every running session is reattached. `window.__kiln` is a view for the browser
// tests (and curious users): tabs, states and terminal text, plus `drop()` to simulate a network
// failure (nothing the page's own scripts could not do anyway).

import { signIn } from './auth';
import { startCredentials } from './credentials';
import { installCspShims } from './csp';
import { extraKeysRow, followVisualViewport } from './extrakeys';
import { Modifiers } from './modifiers';
import { byId } from './dom';
import { SearchBar } from './search';
import { startSetup } from './setup';
import { startSync } from './sync';
import { startVoice } from './voice';
import { startUsage } from './usage';
import { StatusBar } from './status';
import { type Tab, tabSummary } from './tab';
import { SessionsPanel } from './sessions-panel';
import { SettingsStore } from './settings';
import { SettingsPanel, fontKey } from './settings-panel';
import { Tabs } from './tabs';
import { actionOf, setBindings, shortcutsDialog } from './shortcuts';
import type { RendererChoice } from './terminal';

installCspShims();

function boot(): void {
  const params = new URLSearchParams(location.search);
  const rendererParam = params.get('renderer');
  const renderer: RendererChoice = rendererParam === 'dom' || rendererParam === 'webgl' ? rendererParam : 'auto';
  const modifiers = new Modifiers();
  const switches = { forcePoll: params.get('transport') === 'poll', renderer, modifiers };
  const statusRef: { bar?: StatusBar } = {};
  const store = new SettingsStore((m, k) => statusRef.bar?.notify(m, k));
  // Before the panel, so its key buttons show the bindings just applied.
  store.onChange(() => setBindings(store.values.keys));
  const panel = new SettingsPanel(store);

  const help = shortcutsDialog();
  const openHelp = () => {
    if (!help.open) help.showModal();
  };

  const search = new SearchBar();
  byId('panels').append(search.el);
  const tabs = new Tabs(
    {
      changed: (active) => {
        statusRef.bar?.show(active);
        if (search.isOpen) search.setTarget(active ? active.term : undefined);
      },
      notify: (m, k) => statusRef.bar?.notify(m, k),
      openSearch: () => {
        if (tabs.active) search.open(tabs.active.term);
      },
      copyOnSelect: () => store.effective().copyOnSelect,
      settings: () => store.effective(),
      fontStep: (step) => panel.stepFont(step),
      action: (a) => {
        if (a.kind === 'help') openHelp();
        else if (a.kind === 'sessions') void sessionsPanel.open();
      },
      layoutChanged: (layout) => {
        if (JSON.stringify(layout) !== JSON.stringify(store.values.layout)) store.update({ layout });
      },
    },
    switches,
  );
  const bar = new StatusBar(() => tabs.list);
  byId('extra-keys').replaceWith(
    extraKeysRow(modifiers, () => {
      const tab = tabs.active;
      if (!tab) return null;
      return { send: (data) => tab.type(data), applicationCursor: () => tab.term.term.modes.applicationCursorKeysMode };
    }),
  );
  followVisualViewport(byId('app'), () => tabs.active?.term.term.scrollToBottom());
  statusRef.bar = bar;

  // The tools drawer of narrow screens: ⋯ opens it; a tool, Escape or a click elsewhere closes it.
  const topbar = document.querySelector<HTMLElement>('.topbar')!;
  const toolsToggle = byId('tools-toggle');
  const setDrawer = (open: boolean) => {
    topbar.classList.toggle('tools-open', open);
    toolsToggle.setAttribute('aria-expanded', String(open));
  };
  toolsToggle.addEventListener('click', () => setDrawer(!topbar.classList.contains('tools-open')));
  byId('tools').addEventListener('click', (e) => {
    if ((e.target as Element).closest('button')) setDrawer(false);
  });
  document.addEventListener('pointerdown', (e) => {
    if (!topbar.contains(e.target as Node)) setDrawer(false);
  });
  topbar.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && topbar.classList.contains('tools-open')) {
      setDrawer(false);
      toolsToggle.focus();
    }
  });
  const newTab = () => void tabs.create();
  byId('split-row').addEventListener('click', () => void tabs.split('row'));
  byId('split-column').addEventListener('click', () => void tabs.split('column'));
  byId('new-tab').addEventListener('click', newTab);
  byId('empty-new').addEventListener('click', newTab);
  byId('search-toggle').addEventListener('click', () => {
    if (search.isOpen) search.close();
    else if (tabs.active) search.open(tabs.active.term);
  });
  byId('settings-open').addEventListener('click', () => panel.open());
  panel.dialog.addEventListener('close', () => tabs.active?.term.focus());
  store.onChange((e) => tabs.applySettings(e));
  const sessionsPanel = new SessionsPanel({
    shows: (id) => !!tabs.bySession(id),
    attach: (s) => tabs.attachSession(s),
    renamed: (id, label) => tabs.renamed(id, label),
    ended: (id) => tabs.ended(id),
    notify: (m, k) => bar.notify(m, k),
  });
  sessionsPanel.dialog.addEventListener('close', () => tabs.active?.term.focus());
  byId('sessions-open').addEventListener('click', () => void sessionsPanel.open());
  byId('help-open').addEventListener('click', openHelp);
  help.addEventListener('close', () => tabs.active?.term.focus());
  // The app's keys work outside a terminal too (a terminal handles its own, see keys.ts).
  document.addEventListener('keydown', (e) => {
    if (e.defaultPrevented) return;
    const action = actionOf(e);
    if (action) {
      e.preventDefault();
      tabs.act(action);
      return;
    }
    const step = fontKey(e);
    if (step === undefined) return;
    e.preventDefault();
    panel.stepFont(step);
  });
  const firstRun = byId('first-run');
  byId('first-run-ok').addEventListener('click', () => {
    store.update({ first_run_seen: true });
    tabs.active?.term.focus();
  });
  store.onChange(() => {
    firstRun.hidden = store.loaded ? store.values.first_run_seen === true : true;
  });
  // Sessions started in another window show up when this one comes back into view.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') void tabs.refresh();
  });
  // Files dropped outside a terminal must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  const view = (tab: Tab) => ({
    id: tab.sessionId,
    label: tab.label,
    title: tab.title,
    state: tab.exit ? 'exited' : tab.state.kind,
    summary: tabSummary(tab),
    exit: tab.exit,
    active: tab === tabs.active,
    renderer: tab.term.renderer,
    fontSize: tab.term.term.options.fontSize,
    fontFamily: tab.term.term.options.fontFamily,
    cursor: tab.term.term.options.cursorStyle,
    cols: tab.term.term.cols,
    rows: tab.term.term.rows,
    /** A large paste on its way: bytes sent and total. */
    paste: tab.pasteProgress,
    flow: tab.flow,
  });
  const find = (id?: string) => (id ? tabs.list.find((t) => t.sessionId === id) : (tabs.active ?? undefined));
  Object.defineProperty(window, '__kiln', {
    value: Object.freeze({
      version: 1,
      tabs: () => tabs.list.map(view),
      /** The strip's entries: each one's panes (session ids, in order) and the focused one. */
      groups: () => tabs.groups.map((g) => ({ panes: g.tabs().map((t) => t.sessionId), focused: g.focused.sessionId })),
      /** The layout as kiln keeps it. */
      layout: () => tabs.layout(),
      active: () => (tabs.active ? view(tabs.active) : null),
      text: (id?: string) => find(id)?.term.text() ?? '',
      /** Drops the tab's connection as a network failure would; it then reconnects and resumes. */
      drop: (id?: string) => find(id)?.simulateDrop(),
      /** Shows a notice as the page's own code would (layout tests use long ones). */
      notify: (message: string, kind?: 'info' | 'error') => bar.notify(message, kind),
      /** The settings as stored and as applied, and how many saves succeeded. */
      settings: () => ({ stored: store.values, theme: store.effective().theme.id, fontSize: store.effective().fontSize, saved: store.saved, pending: store.pending }),
    }),
  });

  void store.load().then(() => tabs.restore(store.values.layout));
  startVoice({
    type: (text) => {
      const tab = tabs.active;
      if (!tab) return false;
      tab.type(text);
      tab.term.focus();
      return true;
    },
    notify: (m, k) => bar.notify(m, k),
    focus: () => tabs.active?.term.focus(),
  });
  startCredentials({ notify: (m, k) => bar.notify(m, k) });
  startSetup({ notify: (m, k) => bar.notify(m, k) });
  startSync({ notify: (m, k) => bar.notify(m, k) });
  startUsage();
}

// The one-time code leaves the address bar before anything else runs.
const signedIn = signIn();
const start = () => void signedIn.then(boot);
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
