// The workspace sync indicator and panel: the status bar shows `sync ✓`, `sync N pending` or
// `sync: N failed`; clicking it lists every project with its state, last synced commit,
// progress, skipped files and the reason of a failure, with a Retry button. Hidden when sync is
// off. `window.__kilnSync` is a read-only view for the browser tests.

import { h } from './dom';
import { Panel, type PanelHooks, retryButton } from './panel';
import { whereToOpen } from './status-area';
import { type SyncProject, type SyncSnapshot, fetchSync, projectLine, retrySync, syncSummary } from './sync-api';

/** Polling interval (ms). */
const POLL_MS = 3000;

class SyncUi {
  private snap: SyncSnapshot | null = null;
  private off = false;
  private readonly panel: Panel;
  private readonly list: HTMLElement;
  private readonly header: HTMLElement;
  private reported = new Set<string>();

  constructor(private readonly hooks: PanelHooks) {
    this.header = h('p', { id: 'sync-summary', class: 'setup-summary' });
    this.list = h('ul', { id: 'sync-items', class: 'setup-items' });
    this.panel = new Panel({
      key: 'sync',
      name: 'Workspace sync',
      order: 40,
      className: 'setup-indicator sync-indicator',
      title: 'Workspace sync of ~/projects',
      openLabel: 'Open the sync panel',
      content: [this.header, this.list],
      render: () => this.render(),
    });
  }

  async refresh(): Promise<void> {
    try {
      const snap = await fetchSync();
      if (snap === null) {
        this.off = true;
        this.panel.slot.hide();
        return;
      }
      this.snap = snap;
      this.report(snap);
    } catch {
      // Offline or refused: keep the last state.
    }
    this.render();
    setTimeout(() => void this.refresh(), POLL_MS);
  }

  private report(snap: SyncSnapshot): void {
    for (const p of snap.projects) {
      const key = `${p.name}:${p.state}:${p.message ?? ''}`;
      if ((p.state === 'failed' || p.state === 'conflict') && !this.reported.has(key)) {
        this.reported.add(key);
        this.hooks.notify(`${p.name}: not synced — ${whereToOpen('sync')}`, 'error');
      }
    }
  }

  private render(): void {
    const snap = this.snap;
    if (!snap) return;
    const bad = snap.projects.some((p) => p.state === 'failed' || p.state === 'conflict');
    const busy = snap.projects.some((p) => ['pending', 'syncing', 'restoring'].includes(p.state));
    this.panel.slot.update({
      text: syncSummary(snap),
      level: bad ? 'bad' : busy ? 'busy' : 'ok',
      detail: snap.projects.length ? snap.projects.map((p) => `${p.name}: ${projectLine(p)}`).join('\n') : (snap.note ?? 'No projects under ~/projects yet.'),
    });
    this.panel.indicator.dataset.state = bad ? 'failed' : busy ? 'running' : 'ok';
    this.header.textContent = snap.note ?? (snap.workspace ? `Projects under ~/projects are copied to ${snap.workspace} on every commit.` : '');
    this.list.replaceChildren(...snap.projects.map((p) => this.renderProject(p)));
  }

  private renderProject(p: SyncProject): HTMLElement {
    const title = h('div', { class: 'setup-item-title' }, h('span', { class: 'setup-name' }, p.name), h('span', { class: 'setup-status', 'data-status': p.state === 'synced' ? 'ok' : p.state === 'failed' || p.state === 'conflict' ? 'failed' : 'running' }, p.state));
    const children: (Node | string)[] = [title, h('div', { class: 'sync-line' }, projectLine(p))];
    if (p.skipped.length > 0) {
      children.push(h('details', { class: 'setup-log' }, h('summary', {}, `${p.skipped.length} file(s) skipped`), h('pre', {}, p.skipped.map((s) => `${s.path}: ${s.reason}`).join('\n'))));
    }
    if (p.state === 'failed' || p.state === 'conflict') {
      const retry = async () => {
        await retrySync(p.name);
        this.hooks.notify(`${p.name}: sync queued`);
      };
      children.push(retryButton({ class: 'button setup-retry sync-retry', 'data-project': p.name }, retry, this.hooks));
    }
    return h('li', { class: 'setup-item', 'data-project': p.name, 'data-state': p.state }, ...children);
  }

  view() {
    return Object.freeze({
      snapshot: () => this.snap,
      off: () => this.off,
      indicator: () => this.panel.indicatorText(),
    });
  }
}

/** Builds the indicator and panel and starts following the sync status. */
export function startSync(hooks: PanelHooks): void {
  const ui = new SyncUi(hooks);
  Object.defineProperty(window, '__kilnSync', { value: ui.view() });
  void ui.refresh();
}
