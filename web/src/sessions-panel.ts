// The sessions panel (Ctrl+Shift+S): every session on the server with its foreground process,
// size, age, idle time and whether another window shows it; attach (show it in a tab), rename,
// end one, end all. Read fresh from GET api/sessions each time it opens or changes something.

import * as api from './api';
import { h } from './dom';

/** What the panel needs from the tabs. */
export interface SessionsHost {
  /** Whether this window shows the session in a tab. */
  shows(id: string): boolean;
  /** Shows the session in a tab (adopting it when this window has none for it) and focuses it. */
  attach(session: api.Session): void;
  /** The session was renamed or ended here: update the tabs. */
  renamed(id: string, label: string): void;
  ended(id: string): void;
  notify(message: string, kind?: 'info' | 'error'): void;
}

/** "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return m % 60 ? `${hrs} h ${m % 60} min` : `${hrs} h`;
  const d = Math.floor(hrs / 24);
  return hrs % 24 ? `${d} d ${hrs % 24} h` : `${d} d`;
}

export class SessionsPanel {
  readonly dialog: HTMLDialogElement;
  private readonly list: HTMLElement;
  private readonly summary: HTMLElement;

  constructor(private readonly host: SessionsHost) {
    this.list = h('ul', { class: 'session-list' });
    this.summary = h('p', { class: 'setting-hint', 'aria-live': 'polite' });
    const endAll = h('button', { type: 'button', class: 'button danger' }, 'End all');
    endAll.addEventListener('click', () => void this.endAll());
    this.dialog = h(
      'dialog',
      { id: 'sessions-dialog', class: 'dialog sessions-dialog', 'aria-labelledby': 'sessions-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'sessions-title', class: 'dialog-title' }, 'Sessions'),
        this.summary,
        this.list,
        h('div', { class: 'dialog-buttons' }, endAll, h('button', { type: 'submit', class: 'button primary' }, 'Close')),
      ),
    );
    document.body.append(this.dialog);
  }

  async open(): Promise<void> {
    if (!this.dialog.open) this.dialog.showModal();
    await this.refresh();
  }

  async refresh(): Promise<void> {
    let sessions: api.Session[];
    try {
      sessions = await api.listSessions();
    } catch (e) {
      this.summary.textContent = `Could not list the sessions: ${(e as Error).message}`;
      return;
    }
    const now = Date.now();
    this.summary.textContent = sessions.length === 1 ? '1 session on this server.' : `${sessions.length} sessions on this server.`;
    this.list.replaceChildren(...sessions.map((s) => this.row(s, now)));
  }

  private row(s: api.Session, now: number): HTMLElement {
    const here = this.host.shows(s.id);
    const elsewhere = s.viewers - (here ? 1 : 0);
    const created = Date.parse(s.created_at);
    const facts = [
      s.exit ? 'ended' : (s.foreground ?? 'shell'),
      `${s.cols}×${s.rows}`,
      `started ${Number.isFinite(created) ? duration((now - created) / 1000) : '?'} ago`,
      `idle ${duration(s.idle_seconds)}`,
      elsewhere > 0 ? `shown in ${elsewhere} other window${elsewhere > 1 ? 's' : ''}` : 'in no other window',
    ];
    const name = h('span', { class: 'session-name' }, s.label);
    const attach = h('button', { type: 'button', class: 'button primary', 'aria-label': `Show ${s.label}` }, here ? 'Show' : 'Attach');
    const rename = h('button', { type: 'button', class: 'button', 'aria-label': `Rename ${s.label}` }, 'Rename');
    const end = h('button', { type: 'button', class: 'button danger', 'aria-label': `End ${s.label}` }, 'End');
    attach.addEventListener('click', () => {
      this.dialog.close();
      this.host.attach(s);
    });
    rename.addEventListener('click', () => this.beginRename(s, name, rename));
    end.addEventListener('click', () => void this.end(s));
    return h(
      'li',
      { class: 'session-row' },
      h('div', { class: 'session-info' }, name, h('span', { class: 'session-facts' }, facts.join(' · '))),
      h('div', { class: 'session-actions' }, attach, rename, end),
    );
  }

  private beginRename(s: api.Session, name: HTMLElement, button: HTMLButtonElement): void {
    const input = h('input', { class: 'tab-rename', 'aria-label': `New name for ${s.label}`, maxlength: '64', value: s.label });
    name.replaceWith(input);
    button.disabled = true;
    input.focus();
    input.select();
    input.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Escape') {
        e.preventDefault();
        void this.refresh();
      } else if (e.key === 'Enter') {
        e.preventDefault();
        const label = input.value.trim();
        if (!label || label === s.label) {
          void this.refresh();
          return;
        }
        void api
          .renameSession(s.id, label)
          .then((r) => this.host.renamed(r.id, r.label))
          .catch((err: Error) => this.host.notify(`Could not rename: ${err.message}`, 'error'))
          .finally(() => void this.refresh());
      }
    });
  }

  private async end(s: api.Session): Promise<void> {
    try {
      await api.deleteSession(s.id);
      this.host.ended(s.id);
    } catch (e) {
      this.host.notify(`Could not end ${s.label}: ${(e as Error).message}`, 'error');
    }
    await this.refresh();
  }

  private async endAll(): Promise<void> {
    let sessions: api.Session[] = [];
    try {
      sessions = await api.listSessions();
    } catch (e) {
      this.host.notify(`Could not list the sessions: ${(e as Error).message}`, 'error');
      return;
    }
    if (sessions.length && !window.confirm(`End all ${sessions.length} sessions?`)) return;
    for (const s of sessions) {
      try {
        await api.deleteSession(s.id);
        this.host.ended(s.id);
      } catch (e) {
        this.host.notify(`Could not end ${s.label}: ${(e as Error).message}`, 'error');
      }
    }
    await this.refresh();
  }
}
