// The app's keyboard shortcuts (outside what the terminal's programs get): tabs, help, the font
// size, leaving the terminal. One table, used by the terminals' key handler, the page's own
// keydown handler and the shortcuts overlay, so what is listed is what works. The owner may
// rebind them (the `keys` setting: action id -> "Ctrl+Shift+T"); a combination that another
// shortcut, kiln's fixed keys or the terminal's programs need is refused with the reason.

import { h, isMac } from './dom';

export type Action =
  | { kind: 'newTab' }
  | { kind: 'closeTab' }
  | { kind: 'prevTab' }
  | { kind: 'nextTab' }
  | { kind: 'gotoTab'; index: number }
  | { kind: 'help' }
  | { kind: 'sessions' }
  | { kind: 'split'; dir: 'row' | 'column' }
  | { kind: 'mirror' }
  | { kind: 'focusPane'; direction: 'left' | 'right' | 'up' | 'down' };

/** A shortcut the owner can rebind: its name in the settings, what it does, its default keys. */
export interface Bindable {
  id: string;
  what: string;
  keys: string;
  action?: Action;
}

/** Every rebindable shortcut. `leave` and `search` are handled by the terminal's key handler. */
export const BINDABLE: Bindable[] = [
  { id: 'help', what: 'show these shortcuts', keys: 'Ctrl+/', action: { kind: 'help' } },
  { id: 'new-tab', what: 'new tab', keys: 'Ctrl+Shift+T', action: { kind: 'newTab' } },
  { id: 'close', what: 'close the pane, or the tab with its last pane (asks while its shell runs)', keys: 'Ctrl+Shift+W', action: { kind: 'closeTab' } },
  { id: 'prev-tab', what: 'previous tab', keys: 'Ctrl+Shift+[', action: { kind: 'prevTab' } },
  { id: 'next-tab', what: 'next tab', keys: 'Ctrl+Shift+]', action: { kind: 'nextTab' } },
  { id: 'split-row', what: 'split the pane side by side', keys: 'Ctrl+Shift+E', action: { kind: 'split', dir: 'row' } },
  { id: 'split-column', what: 'split the pane one above the other', keys: 'Ctrl+Shift+O', action: { kind: 'split', dir: 'column' } },
  { id: 'mirror', what: 'split the pane with the same shell shown twice (closing one leaves the shell running)', keys: 'Ctrl+Shift+D', action: { kind: 'mirror' } },
  { id: 'focus-left', what: 'focus the pane to the left', keys: 'Ctrl+Shift+Left', action: { kind: 'focusPane', direction: 'left' } },
  { id: 'focus-right', what: 'focus the pane to the right', keys: 'Ctrl+Shift+Right', action: { kind: 'focusPane', direction: 'right' } },
  { id: 'focus-up', what: 'focus the pane above', keys: 'Ctrl+Shift+Up', action: { kind: 'focusPane', direction: 'up' } },
  { id: 'focus-down', what: 'focus the pane below', keys: 'Ctrl+Shift+Down', action: { kind: 'focusPane', direction: 'down' } },
  { id: 'sessions', what: 'sessions: every shell on the server (attach, rename, end)', keys: 'Ctrl+Shift+S', action: { kind: 'sessions' } },
  { id: 'leave', what: 'leave the terminal for the tab strip (plain Esc stays with the program unless bound here)', keys: 'Ctrl+Esc' },
  { id: 'search', what: 'find in the terminal', keys: isMac ? 'Meta+F' : 'Ctrl+Shift+F' },
];

/** Keys kiln keeps for itself whatever the bindings: they cannot be given to another action. */
const FIXED: [string, string][] = [
  ...[1, 2, 3, 4, 5, 6, 7, 8, 9].map((n): [string, string] => [`Ctrl+Shift+${n}`, `go to tab ${n}`]),
  ['Ctrl+Shift+C', 'copy'],
  ['Ctrl+Shift+V', 'paste'],
  ['Ctrl+Insert', 'copy'],
  ['Shift+Insert', 'paste'],
  ['Meta+C', 'copy'],
  ['Meta+V', 'paste'],
  ['Ctrl+=', 'larger font'],
  ['Ctrl+-', 'smaller font'],
  ['Ctrl+0', 'default font size'],
];

/** Keys that must reach the terminal's programs: binding them would take them away. */
const PROGRAM_KEYS = new Set(['Ctrl+C', 'Ctrl+D', 'Ctrl+Z', 'Ctrl+\\', 'Tab', 'Enter', 'Backspace']);

const CODE_NAMES: Record<string, string> = {
  BracketLeft: '[',
  BracketRight: ']',
  Slash: '/',
  Backslash: '\\',
  Minus: '-',
  Equal: '=',
  Comma: ',',
  Period: '.',
  Semicolon: ';',
  Quote: "'",
  Backquote: '`',
  ArrowLeft: 'Left',
  ArrowRight: 'Right',
  ArrowUp: 'Up',
  ArrowDown: 'Down',
  Escape: 'Esc',
  Space: 'Space',
};

/** The key combination of `e` as kiln writes it ("Ctrl+Shift+T"), or undefined for a lone modifier. */
export function comboOf(e: KeyboardEvent): string | undefined {
  if (['Control', 'Shift', 'Alt', 'Meta'].includes(e.key)) return undefined;
  let key: string;
  if (/^Key[A-Z]$/.test(e.code)) key = e.code.slice(3);
  else if (/^Digit[0-9]$/.test(e.code)) key = e.code.slice(5);
  else if (/^Numpad[0-9]$/.test(e.code)) key = e.code.slice(6);
  else if (CODE_NAMES[e.code]) key = CODE_NAMES[e.code]!;
  else if (e.code) key = e.code;
  else key = e.key.length === 1 ? e.key.toUpperCase() : e.key;
  const mods = [e.ctrlKey && 'Ctrl', e.altKey && 'Alt', e.shiftKey && 'Shift', e.metaKey && 'Meta'].filter(Boolean);
  return [...mods, key].join('+');
}

/** Why `combo` cannot be bound to action `id` given the other `bindings`, or undefined if it can. */
export function bindingProblem(id: string, combo: string, bindings: Record<string, string>): string | undefined {
  const parts = combo.split('+');
  const key = parts[parts.length - 1]!;
  const modified = parts.some((p) => p === 'Ctrl' || p === 'Alt' || p === 'Meta');
  const fkey = /^F([1-9]|1[0-2])$/.test(key);
  if (!modified && !fkey && key !== 'Esc') {
    return `${combo} types into the terminal; a shortcut needs Ctrl, Alt or ${isMac ? 'Cmd' : 'Meta'} (or is Esc or F1–F12).`;
  }
  if (PROGRAM_KEYS.has(combo)) return `${combo} belongs to the terminal's programs (it interrupts, ends input or suspends).`;
  const fixed = FIXED.find(([k]) => k === combo);
  if (fixed) return `${combo} is kiln's key for ${fixed[1]}.`;
  const other = BINDABLE.find((b) => b.id !== id && bindings[b.id] === combo);
  if (other) return `${combo} is already the key for “${other.what}”. Give that one another key first.`;
  return undefined;
}

let bound: Record<string, string> = Object.fromEntries(BINDABLE.map((b) => [b.id, b.keys]));

/** The keys in use: the defaults with the owner's `keys` setting over them. */
export function currentBindings(): Record<string, string> {
  return { ...bound };
}

/** Applies the owner's `keys` setting (entries that are unknown or conflict keep the default). */
export function setBindings(keys: Record<string, string> | undefined): void {
  const next: Record<string, string> = Object.fromEntries(BINDABLE.map((b) => [b.id, b.keys]));
  for (const b of BINDABLE) {
    const combo = keys?.[b.id];
    if (typeof combo !== 'string' || combo === next[b.id]) continue;
    const rest = { ...next };
    delete rest[b.id];
    if (!bindingProblem(b.id, combo, rest)) next[b.id] = combo;
  }
  bound = next;
}

/** The rebindable shortcut key event `e` is bound to, if any (its id). */
export function boundTo(e: KeyboardEvent): string | undefined {
  const combo = comboOf(e);
  if (!combo) return undefined;
  return BINDABLE.find((b) => bound[b.id] === combo)?.id;
}

/** The app action of key event `e`, if it is one (a bound shortcut or Ctrl+Shift+1–9). */
export function actionOf(e: KeyboardEvent): Action | undefined {
  const id = boundTo(e);
  if (id) return BINDABLE.find((b) => b.id === id)?.action;
  if (e.ctrlKey && e.shiftKey && !e.metaKey && !e.altKey) {
    const digit = /^Digit([1-9])$/.exec(e.code);
    if (digit) return { kind: 'gotoTab', index: Number(digit[1]) - 1 };
  }
  return undefined;
}

/** Every shortcut as the overlay lists it (with the owner's bindings). */
export function shortcutRows(): [string, string][] {
  return [
    ...BINDABLE.map((b): [string, string] => [bound[b.id]!, b.what]),
    ['Ctrl+Shift+1 … 9', 'go to tab 1 … 9'],
    ['Arrows on a divider', 'move it (or drag it)'],
    ['Enter or Space on a tab', 'back into its terminal'],
    ['F2 / Delete on a tab', 'rename / close it'],
    [isMac ? 'Cmd+C / Cmd+V' : 'Ctrl+Shift+C / Ctrl+Shift+V', 'copy the selection / paste (files are uploaded)'],
    ['Ctrl+= / Ctrl+- / Ctrl+0', 'font size larger / smaller / default'],
  ];
}

/** The shortcuts overlay (a modal dialog; Esc or Close ends it). */
export function shortcutsDialog(): HTMLDialogElement {
  const body = h('tbody', {});
  const fill = () => body.replaceChildren(...shortcutRows().map(([keys, what]) => h('tr', {}, h('th', { scope: 'row' }, h('kbd', {}, keys)), h('td', {}, what))));
  fill();
  const dialog = h(
    'dialog',
    { id: 'help-dialog', class: 'dialog help-dialog', 'aria-labelledby': 'help-title' },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'help-title', class: 'dialog-title' }, 'Keyboard shortcuts'),
      h('table', { class: 'shortcuts' }, body),
      h(
        'p',
        { class: 'setting-hint' },
        'Some browsers keep Ctrl+Shift+T and Ctrl+Shift+W for themselves; they reach kiln when it is installed as an app or full screen. On phones, the key row under the terminal has Esc, Tab, Ctrl, Alt and the arrows.',
      ),
      h('div', { class: 'dialog-buttons' }, h('button', { type: 'submit', class: 'button primary' }, 'Close')),
    ),
  );
  document.body.append(dialog);
  // Rebuilt each time it opens, so rebound keys show.
  const show = dialog.showModal.bind(dialog);
  dialog.showModal = () => {
    fill();
    show();
  };
  return dialog;
}
