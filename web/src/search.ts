// The search bar: find text in the active terminal's buffer (xterm's search addon), next and
// previous match, case sensitivity; Enter / Shift+Enter step, Escape closes.

import type { SearchAddon } from '@xterm/addon-search';
import { h } from './dom';

export class SearchBar {
  readonly el: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly caseBox: HTMLInputElement;
  private readonly count: HTMLElement;
  private target: { search: SearchAddon; focus(): void } | undefined;

  constructor() {
    this.input = h('input', { type: 'search', class: 'search-input', 'aria-label': 'Find', placeholder: 'Find' });
    this.caseBox = h('input', { type: 'checkbox', 'aria-label': 'Match case' });
    this.count = h('span', { class: 'search-count', 'aria-live': 'polite' });
    const prev = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Previous match' }, '↑');
    const next = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Next match' }, '↓');
    const close = h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close find' }, '×');
    this.el = h(
      'div',
      { class: 'search-bar', role: 'search', hidden: true },
      this.input,
      h('label', { class: 'search-case' }, this.caseBox, 'Aa'),
      this.count,
      prev,
      next,
      close,
    );
    prev.addEventListener('click', () => this.find(false));
    next.addEventListener('click', () => this.find(true));
    close.addEventListener('click', () => this.close());
    this.input.addEventListener('input', () => this.find(true, true));
    this.caseBox.addEventListener('change', () => this.find(true, true));
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        this.find(!e.shiftKey);
      } else if (e.key === 'Escape') {
        e.preventDefault();
        this.close();
      }
    });
  }

  get isOpen(): boolean {
    return !this.el.hidden;
  }

  /** Opens the bar for `target` (the active terminal). */
  open(target: { search: SearchAddon; focus(): void }): void {
    this.setTarget(target);
    this.el.hidden = false;
    this.input.focus();
    this.input.select();
  }

  /** Follows the active terminal while open. */
  setTarget(target: { search: SearchAddon; focus(): void } | undefined): void {
    if (this.target && this.target !== target) this.target.search.clearDecorations();
    this.target = target;
    this.count.textContent = '';
  }

  close(): void {
    this.el.hidden = true;
    this.target?.search.clearDecorations();
    this.target?.focus();
  }

  private find(forward: boolean, incremental = false): void {
    const t = this.target;
    if (!t) return;
    const query = this.input.value;
    if (!query) {
      t.search.clearDecorations();
      this.count.textContent = '';
      return;
    }
    const opts = {
      caseSensitive: this.caseBox.checked,
      incremental,
      decorations: {
        matchBackground: '#3b4a64',
        matchOverviewRuler: '#6cb6ff',
        activeMatchBackground: '#f59e42',
        activeMatchColorOverviewRuler: '#f59e42',
      },
    };
    const found = forward ? t.search.findNext(query, opts) : t.search.findPrevious(query, opts);
    this.count.textContent = found ? '' : 'No matches';
  }
}
