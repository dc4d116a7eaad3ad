// The extra-keys row for phones and tablets: keys an on-screen keyboard lacks (Esc, Tab, arrows,
// | ~ / -) and sticky Ctrl and Alt, which modify the next key from this row or from the on-screen
// keyboard. Buttons never take the focus from the terminal (the on-screen keyboard stays up).
// Also keeps the page (and so the prompt) above the on-screen keyboard with the visual viewport.

import { h } from './dom';
import type { Modifiers } from './modifiers';

/** One key of the row: its label, its accessible name and what it sends. */
interface Key {
  label: string;
  name: string;
  send?: (appCursor: boolean) => string;
  modifier?: 'ctrl' | 'alt';
}

const arrow = (letter: string) => (appCursor: boolean) => (appCursor ? `\x1bO${letter}` : `\x1b[${letter}`);

const KEYS: Key[] = [
  { label: 'Esc', name: 'Esc', send: () => '\x1b' },
  { label: 'Tab', name: 'Tab', send: () => '\t' },
  { label: 'Ctrl', name: 'Ctrl', modifier: 'ctrl' },
  { label: 'Alt', name: 'Alt', modifier: 'alt' },
  { label: '←', name: 'Left', send: arrow('D') },
  { label: '↑', name: 'Up', send: arrow('A') },
  { label: '↓', name: 'Down', send: arrow('B') },
  { label: '→', name: 'Right', send: arrow('C') },
  { label: '|', name: 'Pipe', send: () => '|' },
  { label: '~', name: 'Tilde', send: () => '~' },
  { label: '/', name: 'Slash', send: () => '/' },
  { label: '-', name: 'Dash', send: () => '-' },
];

/** What the row needs: where keys go, and whether the terminal wants application cursor keys. */
export interface ExtraKeysTarget {
  send(data: string): void;
  applicationCursor(): boolean;
}

/** The row of keys (shown by CSS on touch screens and narrow windows). */
export function extraKeysRow(modifiers: Modifiers, target: () => ExtraKeysTarget | null): HTMLElement {
  const row = h('div', { class: 'extra-keys', role: 'toolbar', 'aria-label': 'Extra keys' });
  for (const key of KEYS) {
    const b = h('button', { type: 'button', class: 'extra-key', 'aria-label': key.name, tabindex: '-1' }, key.label);
    if (key.modifier) b.setAttribute('aria-pressed', 'false');
    // Keep the focus (and the on-screen keyboard) in the terminal.
    b.addEventListener('pointerdown', (e) => e.preventDefault());
    b.addEventListener('mousedown', (e) => e.preventDefault());
    b.addEventListener('click', () => {
      if (key.modifier) {
        modifiers.set(key.modifier, !modifiers[key.modifier]);
        return;
      }
      const t = target();
      if (t && key.send) t.send(modifiers.apply(key.send(t.applicationCursor())));
    });
    row.append(b);
  }
  // The row is one tab stop; arrows move within it (the toolbar pattern).
  const buttons = [...row.querySelectorAll<HTMLButtonElement>('button')];
  buttons[0]!.tabIndex = 0;
  row.addEventListener('keydown', (e) => {
    const i = buttons.indexOf(e.target as HTMLButtonElement);
    if (i < 0) return;
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : -2;
    if (next === -2) return;
    e.preventDefault();
    const b = buttons[(next + buttons.length) % buttons.length]!;
    for (const other of buttons) other.tabIndex = other === b ? 0 : -1;
    b.focus();
  });
  const render = () => {
    for (const [i, key] of KEYS.entries()) {
      if (key.modifier) buttons[i]!.setAttribute('aria-pressed', String(modifiers[key.modifier]));
    }
  };
  modifiers.onChange(render);
  return row;
}

/** Visible height (px) below which the app is `short` (a phone with its on-screen keyboard up). */
const SHORT_PX = 600;

/**
 * Sizes the app to the visual viewport, so an on-screen keyboard shrinks the terminal instead of
 * covering its prompt, and marks the app `short` when little height is left (the chrome then
 * takes less of it); `changed` runs after each change (to keep the cursor line in view).
 */
export function followVisualViewport(app: HTMLElement, changed: () => void): void {
  const vv = window.visualViewport;
  if (!vv) return;
  const update = () => {
    app.style.setProperty('--app-height', `${Math.round(vv.height)}px`);
    app.style.setProperty('--app-top', `${Math.round(vv.offsetTop)}px`);
    app.classList.toggle('short', vv.height < SHORT_PX);
    changed();
  };
  vv.addEventListener('resize', update);
  vv.addEventListener('scroll', update);
  update();
}
