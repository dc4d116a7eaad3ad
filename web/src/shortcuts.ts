// The app's keyboard shortcuts (outside what the terminal's programs get): tabs, help, the font
// size, leaving the terminal. One table, used by the terminals' key handler, the page's own
// keydown handler and the shortcuts overlay, so what is listed is what works.

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

/** The app action of key event `e`, if it is one (Ctrl+Shift+… or Ctrl+/). */
export function actionOf(e: KeyboardEvent): Action | undefined {
  const ctrl = e.ctrlKey && !e.metaKey && !e.altKey;
  if (!ctrl) return undefined;
  if (!e.shiftKey && (e.key === '/' || e.code === 'Slash')) return { kind: 'help' };
  if (!e.shiftKey) return undefined;
  switch (e.code) {
    case 'KeyT':
      return { kind: 'newTab' };
    case 'KeyW':
      return { kind: 'closeTab' };
    case 'KeyS':
      return { kind: 'sessions' };
    case 'BracketLeft':
      return { kind: 'prevTab' };
    case 'BracketRight':
      return { kind: 'nextTab' };
    case 'KeyE':
      return { kind: 'split', dir: 'row' };
    case 'KeyO':
      return { kind: 'split', dir: 'column' };
    case 'KeyD':
      return { kind: 'mirror' };
    case 'ArrowLeft':
      return { kind: 'focusPane', direction: 'left' };
    case 'ArrowRight':
      return { kind: 'focusPane', direction: 'right' };
    case 'ArrowUp':
      return { kind: 'focusPane', direction: 'up' };
    case 'ArrowDown':
      return { kind: 'focusPane', direction: 'down' };
    default: {
      const digit = /^Digit([1-9])$/.exec(e.code);
      if (digit) return { kind: 'gotoTab', index: Number(digit[1]) - 1 };
      return undefined;
    }
  }
}

/** Every shortcut as the overlay lists it. */
export const SHORTCUTS: [string, string][] = [
  ['Ctrl+/', 'show these shortcuts'],
  ['Ctrl+Shift+T', 'new tab'],
  ['Ctrl+Shift+W', 'close the pane, or the tab with its last pane (asks while its shell runs)'],
  ['Ctrl+Shift+[ / Ctrl+Shift+]', 'previous / next tab'],
  ['Ctrl+Shift+1 … 9', 'go to tab 1 … 9'],
  ['Ctrl+Shift+E / Ctrl+Shift+O', 'split the pane: side by side / one above the other'],
  ['Ctrl+Shift+D', 'split the pane with the same shell shown twice (closing one leaves the shell running)'],
  ['Ctrl+Shift+Arrows', 'focus the pane to the left, right, above or below'],
  ['Arrows on a divider', 'move it (or drag it)'],
  ['Ctrl+Shift+S', 'sessions: every shell on the server (attach, rename, end)'],
  ['Ctrl+Esc', 'leave the terminal for the tab strip (plain Esc stays with the program)'],
  ['Enter or Space on a tab', 'back into its terminal'],
  ['F2 / Delete on a tab', 'rename / close it'],
  [isMac ? 'Cmd+C / Cmd+V' : 'Ctrl+Shift+C / Ctrl+Shift+V', 'copy the selection / paste (files are uploaded)'],
  [isMac ? 'Cmd+F' : 'Ctrl+Shift+F', 'find in the terminal'],
  ['Ctrl+= / Ctrl+- / Ctrl+0', 'font size larger / smaller / default'],
];

/** The shortcuts overlay (a modal dialog; Esc or Close ends it). */
export function shortcutsDialog(): HTMLDialogElement {
  const rows = SHORTCUTS.map(([keys, what]) => h('tr', {}, h('th', { scope: 'row' }, h('kbd', {}, keys)), h('td', {}, what)));
  const dialog = h(
    'dialog',
    { id: 'help-dialog', class: 'dialog help-dialog', 'aria-labelledby': 'help-title' },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'help-title', class: 'dialog-title' }, 'Keyboard shortcuts'),
      h('table', { class: 'shortcuts' }, h('tbody', {}, ...rows)),
      h(
        'p',
        { class: 'setting-hint' },
        'Some browsers keep Ctrl+Shift+T and Ctrl+Shift+W for themselves; they reach kiln when it is installed as an app or full screen. On phones, the key row under the terminal has Esc, Tab, Ctrl, Alt and the arrows.',
      ),
      h('div', { class: 'dialog-buttons' }, h('button', { type: 'submit', class: 'button primary' }, 'Close')),
    ),
  );
  document.body.append(dialog);
  return dialog;
}
