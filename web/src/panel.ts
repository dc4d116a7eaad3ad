// The frame every status-area panel shares (agents setup, workspace sync, model usage): a chip in
// the status area that opens a dialog with a heading, the panel's own content and a Close
// button, under the element ids `<key>-indicator`, `<key>-dialog` and `<key>-title`; and the
// Retry button of a failed item, which reports a refusal through the page's notifications.

import { ApiError } from './api';
import { h } from './dom';
import { type StatusSlot, statusSlot } from './status-area';

/** What a panel needs from the page. */
export interface PanelHooks {
  notify: (message: string, kind?: 'info' | 'error') => void;
}

/** How a panel is shown. */
export interface PanelOptions {
  /** Prefix of the element ids (`sync`: `sync-indicator`, `sync-dialog`, `sync-title`). */
  key: string;
  /** The part's name in the status overview, and the dialog's heading. */
  name: string;
  /** Position of the chip among the others, smallest first. */
  order: number;
  /** Classes of the chip. */
  className: string;
  /** Tooltip of the chip. */
  title: string;
  /** Label of the overview's button into the panel ("Open the sync panel"). */
  openLabel: string;
  /** The dialog's content, between its heading and its Close button. */
  content: Node[];
  /** Brings the content up to date; called before the dialog opens. */
  render: () => void;
}

/** A status chip and the dialog it opens. */
export class Panel {
  readonly slot: StatusSlot;
  readonly indicator: HTMLButtonElement;
  readonly dialog: HTMLDialogElement;

  constructor(private readonly options: PanelOptions) {
    const { key, name } = options;
    this.slot = statusSlot({
      id: `${key}-indicator`,
      name,
      order: options.order,
      className: options.className,
      title: options.title,
      open: () => this.open(),
      openLabel: options.openLabel,
    });
    this.indicator = this.slot.button;
    const close = h('button', { class: 'button', type: 'submit', value: 'close' }, 'Close');
    this.dialog = h(
      'dialog',
      { id: `${key}-dialog`, class: 'dialog setup-dialog', 'aria-labelledby': `${key}-title` },
      h('form', { method: 'dialog' }, h('h2', { id: `${key}-title`, class: 'setup-title' }, name), ...options.content, h('div', { class: 'dialog-buttons' }, close)),
    );
    document.body.append(this.dialog);
  }

  /** Renders the content and opens the dialog. */
  open(): void {
    this.options.render();
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** The chip's text, empty while it is hidden (for the browser tests' views). */
  indicatorText(): string {
    return this.indicator.hidden ? '' : (this.indicator.textContent ?? '');
  }
}

/**
 * A Retry button (`attrs` add its classes and data attributes): a click disables it and runs
 * `retry`; a refusal is notified as an error; `after` runs last either way.
 */
export function retryButton(attrs: Record<string, string>, retry: () => Promise<void>, hooks: PanelHooks, after?: () => Promise<void>): HTMLButtonElement {
  const button = h('button', { type: 'button', ...attrs }, 'Retry');
  button.addEventListener('click', () => {
    void (async () => {
      button.disabled = true;
      try {
        await retry();
      } catch (e) {
        hooks.notify(e instanceof ApiError ? e.message : String(e), 'error');
      }
      if (after) await after();
    })();
  });
  return button;
}
