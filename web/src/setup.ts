// The agents setup panel: while `kiln serve` installs and configures the coding agents, an
// indicator in the status bar shows the progress (`agents 3/7 …`, `agents ✓`, `agents: 1
// failed`); clicking it opens a panel with each agent's steps, durations, messages, the tail of
// its log and a Retry button for failed ones. Nothing shows when setup is off (404).
// `window.__kilnSetup` is a read-only view for the browser tests.

import { h } from './dom';
import { Panel, type PanelHooks, retryButton } from './panel';
import { whereToOpen } from './status-area';
import { type SetupItem, type SetupSnapshot, fetchSetup, retrySetup, stepLine, summaryText } from './setup-api';

/** Polling while a run is in progress, and when idle (ms). */
const BUSY_POLL_MS = 1000;
const IDLE_POLL_MS = 10_000;

class SetupUi {
  private snap: SetupSnapshot | null = null;
  private off = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private reportedFailures = new Set<string>();
  private readonly panel: Panel;
  private readonly list: HTMLElement;
  private readonly header: HTMLElement;
  /** Log tails the user opened stay open across re-renders. */
  private readonly openLogs = new Set<string>();

  constructor(private readonly hooks: PanelHooks) {
    this.header = h('p', { id: 'setup-summary', class: 'setup-summary' });
    this.list = h('ul', { id: 'setup-items', class: 'setup-items' });
    this.panel = new Panel({
      key: 'setup',
      name: 'Coding agents',
      order: 20,
      className: 'setup-indicator',
      title: 'Coding agents: install and configuration progress',
      openLabel: 'Open the agents panel',
      content: [this.header, this.list],
      render: () => this.render(),
    });
  }

  start(): void {
    void this.refresh();
  }

  private schedule(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.off) return;
    const busy = this.snap?.running ?? true;
    this.timer = setTimeout(() => void this.refresh(), busy ? BUSY_POLL_MS : IDLE_POLL_MS);
  }

  async refresh(): Promise<void> {
    try {
      const snap = await fetchSetup();
      if (snap === null) {
        this.off = true;
        this.panel.slot.hide();
        return;
      }
      this.snap = snap;
      this.reportFailures(snap);
    } catch {
      // Offline or refused: keep the last state; the terminals say what is wrong.
    }
    this.render();
    this.schedule();
  }

  private reportFailures(snap: SetupSnapshot): void {
    if (snap.running) return;
    for (const item of snap.items) {
      const key = `${snap.runs}:${item.name}`;
      if (item.status === 'failed' && !this.reportedFailures.has(key)) {
        this.reportedFailures.add(key);
        this.hooks.notify(`${item.display} could not be set up: ${whereToOpen('agents')}`, 'error');
      }
    }
  }

  private render(): void {
    const snap = this.snap;
    if (!snap) return;
    const state = snap.items.some((i) => i.status === 'failed') ? 'failed' : snap.running ? 'running' : 'ok';
    const failed = snap.items.filter((i) => i.status === 'failed').map((i) => i.display);
    const done = snap.items.filter((i) => i.status === 'ok').length;
    this.panel.slot.update({
      text: summaryText(snap),
      level: state === 'failed' ? 'bad' : state === 'running' ? 'busy' : 'ok',
      detail: `${done} of ${snap.items.length} agents set up${snap.running ? ', setup running' : ''}.${failed.length ? ` Failed: ${failed.join(', ')}.` : ''}`,
    });
    this.panel.indicator.dataset.state = state;
    const models = snap.models_source ? `Models: ${snap.models_source}.` : '';
    this.header.textContent = `${snap.running ? 'Setting up…' : 'Set up.'} ${models}`.trim();
    this.list.replaceChildren(...snap.items.map((item) => this.renderItem(item)));
  }

  private renderItem(item: SetupItem): HTMLElement {
    const title = h(
      'div',
      { class: 'setup-item-title' },
      h('span', { class: 'setup-name' }, item.display),
      h('span', { class: 'setup-version' }, item.version ?? ''),
      h('span', { class: 'setup-status', 'data-status': item.status }, item.status),
    );
    const steps = h('ul', { class: 'setup-steps' }, ...item.steps.map((s) => h('li', { 'data-status': s.status }, stepLine(s))));
    const children: (Node | string)[] = [title, steps];
    if (item.log_tail.length > 0) {
      const log = h('details', { class: 'setup-log', open: this.openLogs.has(item.name) }, h('summary', {}, 'Log'), h('pre', {}, item.log_tail.join('\n')));
      log.addEventListener('toggle', () => {
        if (log.open) this.openLogs.add(item.name);
        else this.openLogs.delete(item.name);
      });
      children.push(log);
    }
    if (item.status === 'failed') {
      children.push(retryButton({ class: 'button setup-retry', 'data-agent': item.name }, () => retrySetup(item.name), this.hooks, () => this.refresh()));
    }
    return h('li', { class: 'setup-item', 'data-agent': item.name, 'data-status': item.status }, ...children);
  }

  view() {
    return Object.freeze({
      snapshot: () => this.snap,
      off: () => this.off,
      indicator: () => this.panel.indicatorText(),
      panelOpen: () => this.panel.dialog.open,
    });
  }
}

/** Builds the indicator and panel and starts following the setup progress. */
export function startSetup(hooks: PanelHooks): void {
  const ui = new SetupUi(hooks);
  Object.defineProperty(window, '__kilnSetup', { value: ui.view() });
  ui.start();
}
