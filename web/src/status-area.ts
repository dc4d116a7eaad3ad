// kiln's state at a glance: one compact area in the status bar where every part of kiln that has a
// state (the Databricks token, the agents setup, workspace sync, model usage, …) shows a short
// chip, and one overview dialog with every part's details. On narrow screens the chips fold into
// one button (a dot of the worst state and a count) that opens the overview.
//
// A part plugs in with `statusSlot({ id, name, order, open })` and then calls `update()` with a
// short text, a level and the details; `hide()` takes it out (a part that is off shows nothing).
// The chip is a button with the given id: clicking it opens the part's own panel (`open`) or, when
// it has none, the overview. `window.__kilnStatus` is a read-only view for the browser tests.

import { byId, h } from './dom';

/** How a part is doing: drives the chip's colour and the overview's order of concern. */
export type Level = 'ok' | 'info' | 'busy' | 'warn' | 'bad';

/** What a part says about itself. */
export interface SlotState {
  /** A few words for the chip ("token ✓ renews in 12:04", "agents 3/7"). */
  text: string;
  level: Level;
  /** The details in the overview (sentences; newlines separate lines). */
  detail?: string;
  /** The overview's button into the part's panel: its label, or null for none now. */
  action?: string | null;
}

/** How a part is shown. */
export interface SlotOptions {
  /** The chip's element id (stable: tests and the overview use it). */
  id: string;
  /** The part's name in the overview ("Databricks token"). */
  name: string;
  /** Position among the chips, smallest first. */
  order: number;
  /** Tooltip of the chip. */
  title?: string;
  /** Extra classes of the chip. */
  className?: string;
  /** Opens the part's own panel; without it the chip opens the overview. */
  open?: () => void;
  /** Label of the overview's button that calls `open` ("Open the agents panel"). */
  openLabel?: string;
}

const RANK: Record<Level, number> = { ok: 0, info: 0, busy: 1, warn: 2, bad: 3 };

/** One part's place in the area. */
export class StatusSlot {
  readonly button: HTMLButtonElement;
  state: SlotState | null = null;

  constructor(
    readonly options: SlotOptions,
    private readonly area: StatusArea,
  ) {
    this.button = h('button', {
      id: options.id,
      class: `state-chip ${options.className ?? ''}`.trim(),
      type: 'button',
      hidden: true,
      title: options.title,
      'data-order': String(options.order),
    });
    this.button.addEventListener('click', () => {
      if (this.options.open) this.options.open();
      else this.area.openOverview();
    });
  }

  /** Shows the part with `state`. */
  update(state: SlotState): void {
    this.state = state;
    this.button.hidden = false;
    if (this.button.textContent !== state.text) this.button.textContent = state.text;
    this.button.dataset.level = state.level;
    this.area.changed();
  }

  /** Takes the part out of the area (it is off or has nothing to say). */
  hide(): void {
    this.state = null;
    this.button.hidden = true;
    this.area.changed();
  }

  get visible(): boolean {
    return this.state !== null;
  }
}

export class StatusArea {
  private readonly slots: StatusSlot[] = [];
  private readonly chips: HTMLElement;
  private readonly summary: HTMLButtonElement;
  private readonly dialog: HTMLDialogElement;
  private readonly list: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.chips = h('div', { class: 'state-chips' });
    this.summary = h('button', {
      id: 'state-summary',
      class: 'state-summary',
      type: 'button',
      hidden: true,
      'aria-haspopup': 'dialog',
      title: 'kiln: every state at a glance',
    });
    this.summary.addEventListener('click', () => this.openOverview());
    root.append(this.summary, this.chips);
    this.list = h('ul', { id: 'state-list', class: 'state-list' });
    this.dialog = h(
      'dialog',
      { id: 'state-dialog', class: 'dialog state-dialog', 'aria-labelledby': 'state-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'state-title', class: 'dialog-title' }, 'kiln at a glance'),
        this.list,
        h('div', { class: 'dialog-buttons' }, h('button', { class: 'button primary', type: 'submit', value: 'close' }, 'Close')),
      ),
    );
    document.body.append(this.dialog);
  }

  /** Adds a part (see `statusSlot`). */
  add(options: SlotOptions): StatusSlot {
    const existing = this.slots.find((s) => s.options.id === options.id);
    if (existing) return existing;
    const slot = new StatusSlot(options, this);
    this.slots.push(slot);
    this.slots.sort((a, b) => a.options.order - b.options.order);
    this.chips.replaceChildren(...this.slots.map((s) => s.button));
    return slot;
  }

  /** Whether the chips are folded into the summary button (narrow screens, by the style sheet). */
  folded(): boolean {
    return getComputedStyle(this.chips).display === 'none';
  }

  /** The shown parts, in order. */
  visible(): StatusSlot[] {
    return this.slots.filter((s) => s.visible);
  }

  /** A part changed: the summary button and an open overview follow. */
  changed(): void {
    const shown = this.visible();
    this.summary.hidden = shown.length === 0;
    this.root.hidden = shown.length === 0;
    let worst: Level = 'ok';
    for (const s of shown) if (RANK[s.state!.level] > RANK[worst]) worst = s.state!.level;
    const concerns = shown.filter((s) => RANK[s.state!.level] >= RANK.warn).length;
    const words = concerns ? `${concerns} need${concerns === 1 ? 's' : ''} attention` : 'all well';
    this.summary.dataset.level = worst;
    this.summary.replaceChildren(h('span', { class: `state-dot ${worst}`, 'aria-hidden': 'true' }), h('span', { class: 'state-summary-text' }, concerns ? String(concerns) : '✓'));
    this.summary.setAttribute('aria-label', `kiln state: ${words}`);
    if (this.dialog.open) this.renderOverview();
  }

  /** Opens the overview of every part. */
  openOverview(): void {
    this.renderOverview();
    if (!this.dialog.open) this.dialog.showModal();
  }

  private renderOverview(): void {
    const shown = this.visible();
    if (shown.length === 0) {
      this.list.replaceChildren(h('li', { class: 'state-item' }, 'Nothing to report.'));
      return;
    }
    this.list.replaceChildren(
      ...shown.map((s) => {
        const st = s.state!;
        const children: (Node | string)[] = [
          h('div', { class: 'state-item-title' }, h('span', { class: `state-dot ${st.level}`, 'aria-hidden': 'true' }), h('span', { class: 'state-name' }, s.options.name), h('span', { class: 'state-text' }, st.text)),
        ];
        if (st.detail) children.push(h('p', { class: 'state-detail' }, st.detail));
        const open = s.options.open;
        const label = st.action === undefined ? (s.options.openLabel ?? `Open ${s.options.name}`) : st.action;
        if (open && label) {
          const b = h('button', { class: 'button', type: 'button' }, label);
          b.addEventListener('click', () => {
            this.dialog.close();
            open();
          });
          children.push(b);
        }
        return h('li', { class: 'state-item', 'data-slot': s.options.id, 'data-level': st.level }, ...children);
      }),
    );
  }

  view() {
    return Object.freeze({
      /** Every shown part: id, name, text, level and details. */
      parts: () => this.visible().map((s) => ({ id: s.options.id, name: s.options.name, ...s.state! })),
      overviewOpen: () => this.dialog.open,
    });
  }
}

let area: StatusArea | undefined;

/** The page's status area (made on first use, in index.html's `#kiln-state`). */
export function statusArea(): StatusArea {
  if (!area) {
    area = new StatusArea(byId('kiln-state'));
    Object.defineProperty(window, '__kilnStatus', { value: area.view() });
  }
  return area;
}

/**
 * Where a notice sends the user to see a part whose chip reads `chip` ("agents", "sync"): that
 * chip, or on a narrow screen, where the chips are folded into one button, that button.
 */
export function whereToOpen(chip: string): string {
  return statusArea().folded() ? 'open kiln’s state (the ● button in the status bar)' : `open “${chip}” in the status bar`;
}

/** Adds a part to the status area: the one way a part of kiln shows its state in the UI. */
export function statusSlot(options: SlotOptions): StatusSlot {
  return statusArea().add(options);
}
