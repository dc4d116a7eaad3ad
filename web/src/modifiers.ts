// Sticky Ctrl and Alt of the extra-keys row, and what they make of the next key: control
// characters, Esc prefixes, modified cursor-key sequences (xterm's encoding). No DOM.

/** Sticky modifiers: armed by a tap, applied to the next key, then released. */
export class Modifiers {
  ctrl = false;
  alt = false;
  private readonly listeners: (() => void)[] = [];

  onChange(fn: () => void): void {
    this.listeners.push(fn);
  }

  set(which: 'ctrl' | 'alt', on: boolean): void {
    this[which] = on;
    for (const fn of this.listeners) fn();
  }

  /** `data` as the armed modifiers make it (and the modifiers released); unchanged when none. */
  apply(data: string): string {
    if (!this.ctrl && !this.alt) return data;
    const out = modify(data, this.ctrl, this.alt);
    this.ctrl = false;
    this.alt = false;
    for (const fn of this.listeners) fn();
    return out;
  }
}

/** The xterm modifier parameter of CSI sequences: 1 + (Alt 2) + (Ctrl 4). */
function csiModifier(ctrl: boolean, alt: boolean): number {
  return 1 + (alt ? 2 : 0) + (ctrl ? 4 : 0);
}

/** Applies Ctrl and/or Alt to what one key sends (a character or a cursor-key sequence). */
export function modify(data: string, ctrl: boolean, alt: boolean): string {
  // Cursor keys: ESC [ A or ESC O A become ESC [ 1 ; m A.
  const cursor = /^\x1b[[O]([ABCDHF])$/.exec(data);
  if (cursor) return `\x1b[1;${csiModifier(ctrl, alt)}${cursor[1]}`;
  let out = data;
  if (ctrl && [...data].length === 1) {
    const c = data.charCodeAt(0);
    if (c >= 0x61 && c <= 0x7a) out = String.fromCharCode(c - 0x60); // a-z
    else if (c >= 0x40 && c <= 0x5f) out = String.fromCharCode(c - 0x40); // @ A-Z [ \ ] ^ _
    else if (data === ' ' || data === '2') out = '\x00';
    else if (data === '?' || data === '8') out = '\x7f';
    else if (data === '/' || data === '-') out = '\x1f';
    else if (data === '~') out = '\x1e';
  }
  return alt ? `\x1b${out}` : out;
}
