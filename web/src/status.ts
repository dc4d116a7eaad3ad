// The status bar: the active tab's connection state (with "reconnecting in N s" counting down
// and a retry button), its size, and short notices (uploads, copies, errors).

import { byId, h } from './dom';
import { type Tab, tabSummary } from './tab';

/** How long a notice stays (ms). */
const NOTICE_MS = 6000;

export class StatusBar {
  private readonly status = byId('status');
  private readonly notice = byId('notice');
  private readonly size = byId('size');
  private noticeTimer: ReturnType<typeof setTimeout> | undefined;
  private tab: Tab | null = null;

  constructor(private readonly allTabs: () => Tab[]) {
    // Countdowns tick once a second for every reconnecting tab.
    setInterval(() => {
      for (const t of this.allTabs()) if (t.state.kind === 'reconnecting') t.render();
    }, 1000);
  }

  /** Shows the state of `tab` (the active one). */
  show(tab: Tab | null): void {
    this.tab = tab;
    if (!tab) {
      this.status.replaceChildren();
      this.status.className = 'status';
      this.size.textContent = '';
      document.title = 'kiln';
      return;
    }
    const kind = tab.exit ? 'exited' : tab.state.kind;
    this.status.className = `status ${kind}`;
    const parts: (Node | string)[] = [h('span', { class: `dot ${kind}`, 'aria-hidden': 'true' }), tabSummary(tab)];
    if (tab.state.kind === 'reconnecting' || tab.state.kind === 'offline') {
      const retry = h('button', { type: 'button', class: 'link-button' }, 'Retry now');
      retry.addEventListener('click', () => this.tab?.retryNow());
      parts.push(' ', retry);
    }
    this.status.replaceChildren(...parts);
    const { cols, rows } = tab.size;
    this.size.textContent = `${cols}×${rows}`;
    document.title = `${tab.title || tab.label} · kiln`;
  }

  /** A short message next to the state. */
  notify(message: string, kind: 'info' | 'error' = 'info'): void {
    this.notice.textContent = message;
    this.notice.className = `notice ${kind}`;
    if (this.noticeTimer !== undefined) clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => {
      this.notice.textContent = '';
      this.notice.className = 'notice';
    }, NOTICE_MS);
  }
}
