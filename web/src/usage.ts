// The model usage chip and panel: the status area shows `tokens 3.4k today · trace ✓`;
// clicking it lists tokens per agent and model for today and this session, and whether model
// calls are traced to MLflow (last export, dropped spans). Hidden when the gateway is off.
// `window.__kilnUsage` is a read-only view for the browser tests.

import { h } from './dom';
import { Panel } from './panel';
import { type AgentUsage, type UsageSnapshot, fetchUsage, tokens, tracingLine, usageSummary } from './usage-api';

/** Polling interval (ms). */
const POLL_MS = 5000;

class UsageUi {
  private snap: UsageSnapshot | null = null;
  private off = false;
  private readonly panel: Panel;
  private readonly body: HTMLElement;

  constructor() {
    this.body = h('div', { id: 'usage-body' });
    this.panel = new Panel({
      key: 'usage',
      name: 'Model usage',
      order: 50,
      className: 'setup-indicator usage-indicator',
      title: 'Model usage and tracing',
      openLabel: 'Open the usage panel',
      content: [this.body],
      render: () => this.render(),
    });
  }

  async refresh(): Promise<void> {
    try {
      const snap = await fetchUsage();
      this.off = snap === null;
      this.snap = snap;
    } catch {
      // Offline or refused: keep the last state.
    }
    this.render();
    setTimeout(() => void this.refresh(), POLL_MS);
  }

  private render(): void {
    const snap = this.snap;
    if (!snap) {
      this.panel.slot.hide();
      return;
    }
    const failing = snap.tracing.state === 'failing';
    this.panel.slot.update({ text: usageSummary(snap), level: failing ? 'warn' : 'ok', detail: tracingLine(snap.tracing) });
    this.panel.indicator.dataset.state = failing ? 'failed' : 'ok';
    this.body.replaceChildren(
      h('p', { id: 'usage-tracing', class: 'setup-summary', 'data-state': snap.tracing.state }, tracingLine(snap.tracing)),
      h('h3', {}, `Today (${snap.today.date} UTC)`),
      table('usage-today', snap.today.agents),
      h('h3', {}, `This session (since ${snap.started_at})`),
      table('usage-session', snap.agents),
    );
  }

  view() {
    return Object.freeze({
      snapshot: () => this.snap,
      off: () => this.off,
      indicator: () => this.panel.indicatorText(),
    });
  }
}

function table(id: string, rows: AgentUsage[]): HTMLElement {
  if (rows.length === 0) return h('p', { id, class: 'usage-empty' }, 'No model calls yet.');
  const head = h('tr', {}, ...['agent', 'model', 'calls', 'errors', 'input', 'output'].map((c) => h('th', {}, c)));
  const body = rows.map((r) =>
    h('tr', { 'data-agent': r.agent, 'data-model': r.model }, h('td', {}, r.agent), h('td', {}, r.model), h('td', {}, String(r.requests)), h('td', {}, String(r.errors)), h('td', {}, tokens(r.input_tokens)), h('td', {}, tokens(r.output_tokens))),
  );
  return h('table', { id, class: 'usage-table' }, h('thead', {}, head), h('tbody', {}, ...body));
}

/** Builds the indicator and panel and starts following the usage. */
export function startUsage(): void {
  const ui = new UsageUi();
  Object.defineProperty(window, '__kilnUsage', { value: ui.view() });
  void ui.refresh();
}
