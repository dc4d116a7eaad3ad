// Keyboard shortcuts inside a terminal, so copy and paste work on every keyboard:
// - Linux/Windows: Ctrl+Shift+C and Ctrl+Insert copy the selection; Ctrl+Shift+V and Shift+Insert
//   paste. Plain Ctrl+C stays an interrupt, plain Ctrl+V stays a literal-next for the shell.
// - macOS: Cmd+C copies, Cmd+V pastes (left to the browser's native copy and paste events).
// - Ctrl+Shift+F (Cmd+F on macOS) opens the search bar (rebindable, see shortcuts.ts).
// - The app's shortcuts (shortcuts.ts: Ctrl+/, Ctrl+Shift+T/W/[/]/1-9) go to the app.
// - Ctrl+= / Ctrl+- / Ctrl+0 change the font size (so Ctrl+- no longer reaches the program).
// - Ctrl+Esc moves focus out of the terminal to the tab strip (keyboard-only use); plain Esc
//   stays with the program (vim needs it). The owner may bind plain Esc instead (Settings).
// Pastes go through the browser's paste event, so text reaches xterm.js (bracketed paste
// honoured) and files reach the uploader.

import type { Terminal } from '@xterm/xterm';
import { isMac } from './dom';
import { fontKey } from './settings-panel';
import { type Action, actionOf, boundTo } from './shortcuts';

/** Puts `text` on the clipboard: the async Clipboard API, else a copy command. */
export async function copyText(text: string): Promise<boolean> {
  if (!text) return false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the copy command
  }
  let done = false;
  const onCopy = (e: ClipboardEvent) => {
    e.clipboardData?.setData('text/plain', text);
    e.preventDefault();
    done = true;
  };
  document.addEventListener('copy', onCopy, { once: true, capture: true });
  try {
    document.execCommand('copy');
  } finally {
    document.removeEventListener('copy', onCopy, { capture: true });
  }
  return done;
}

export interface KeyActions {
  openSearch(): void;
  /** Ctrl+Esc: focus leaves the terminal for the tab strip (plain Esc stays the program's). */
  leave(): void;
  /** Ctrl+= / Ctrl+- / Ctrl+0: font size up, down, default. */
  fontStep(step: -1 | 0 | 1): void;
  /** An app shortcut (tabs, help): see shortcuts.ts. */
  action(action: Action): void;
  copied(ok: boolean): void;
}

function isCopy(e: KeyboardEvent): boolean {
  const k = e.key.toLowerCase();
  if (isMac && e.metaKey && !e.ctrlKey && !e.altKey && k === 'c') return true;
  if (e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey && k === 'c') return true;
  return e.ctrlKey && !e.shiftKey && !e.altKey && e.key === 'Insert';
}

function isPaste(e: KeyboardEvent): boolean {
  const k = e.key.toLowerCase();
  if (isMac && e.metaKey && !e.ctrlKey && !e.altKey && k === 'v') return true;
  if (e.ctrlKey && e.shiftKey && !e.altKey && !e.metaKey && k === 'v') return true;
  return e.shiftKey && !e.ctrlKey && !e.altKey && e.key === 'Insert';
}


/** Installs the shortcuts on `term`. */
export function installKeys(term: Terminal, actions: KeyActions): void {
  term.attachCustomKeyEventHandler((e) => {
    if (isCopy(e)) {
      // Copy the selection; with nothing selected, Cmd+C does nothing and Ctrl+Shift+C is eaten
      // (it would open the browser's inspector).
      if (e.type === 'keydown') {
        e.preventDefault();
        if (term.hasSelection()) void copyText(term.getSelection()).then(actions.copied);
      }
      return false;
    }
    if (isPaste(e)) {
      // Not prevented: the browser fires its paste event, which xterm.js (text) or the uploader
      // (files) handles.
      return false;
    }
    const bound = boundTo(e);
    if (bound === 'search') {
      if (e.type === 'keydown') {
        e.preventDefault();
        actions.openSearch();
      }
      return false;
    }
    const action = actionOf(e);
    if (action) {
      if (e.type === 'keydown') {
        e.preventDefault();
        actions.action(action);
      }
      return false;
    }
    const step = fontKey(e);
    if (step !== undefined) {
      if (e.type === 'keydown') {
        e.preventDefault();
        actions.fontStep(step);
      }
      return false;
    }
    if (bound === 'leave') {
      if (e.type === 'keydown') {
        e.preventDefault();
        actions.leave();
      }
      return false;
    }
    // Other Cmd shortcuts on macOS belong to the browser.
    if (isMac && e.metaKey) return false;
    return true;
  });
}
