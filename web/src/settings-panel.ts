// The settings dialog: every setting with a label, applied as it changes (saved by the store).
// Also the font-size keys (Ctrl+= / Ctrl+- / Ctrl+0) and the A−/A+ buttons.

import { h } from './dom';
import { type CursorStyle, MAX_SCROLLBACK, type SettingsStore, clampFontSize } from './settings';
import { BINDABLE, bindingProblem, comboOf as comboOfKey, currentBindings, setBindings } from './shortcuts';
import { FONT_FAMILIES, FONT_SIZE, MAX_FONT_SIZE, MIN_FONT_SIZE, THEMES } from './theme';

function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = `set-${label.toLowerCase().replace(/[^a-z]+/g, '-')}`;
  control.id = id;
  return h(
    'div',
    { class: 'setting' },
    h('label', { for: id }, label),
    control,
    ...(hint ? [h('span', { class: 'setting-hint' }, hint)] : []),
  );
}

export class SettingsPanel {
  readonly dialog: HTMLDialogElement;
  private readonly theme: HTMLSelectElement;
  private readonly family: HTMLSelectElement;
  private readonly size: HTMLOutputElement;
  private readonly cursor: HTMLSelectElement;
  private readonly blink: HTMLInputElement;
  private readonly scrollback: HTMLInputElement;
  private readonly copy: HTMLInputElement;
  private readonly paste: HTMLInputElement;

  constructor(private readonly store: SettingsStore) {
    this.theme = h(
      'select',
      {},
      h('option', { value: '' }, 'Follow the system (light or dark)'),
      ...THEMES.map((t) => h('option', { value: t.id }, `${t.name}${t.light ? ' · light' : ' · dark'}`)),
    );
    this.family = h('select', {}, ...FONT_FAMILIES.map((f) => h('option', { value: f.id }, f.name)));
    this.size = h('output', { class: 'font-size', 'aria-live': 'polite' });
    const smaller = h('button', { type: 'button', class: 'button', 'aria-label': 'Smaller font (Ctrl+-)' }, 'A−');
    const larger = h('button', { type: 'button', class: 'button', 'aria-label': 'Larger font (Ctrl+=)' }, 'A+');
    const reset = h('button', { type: 'button', class: 'button', 'aria-label': 'Default font size (Ctrl+0)' }, 'Reset');
    smaller.addEventListener('click', () => this.stepFont(-1));
    larger.addEventListener('click', () => this.stepFont(1));
    reset.addEventListener('click', () => this.stepFont(0));
    this.cursor = h(
      'select',
      {},
      h('option', { value: 'block' }, 'Block'),
      h('option', { value: 'bar' }, 'Bar'),
      h('option', { value: 'underline' }, 'Underline'),
    );
    this.blink = h('input', { type: 'checkbox' });
    this.scrollback = h('input', { type: 'number', min: '0', max: String(MAX_SCROLLBACK), step: '1000', inputmode: 'numeric' });
    this.copy = h('input', { type: 'checkbox' });
    this.paste = h('input', { type: 'checkbox' });
    const close = h('button', { type: 'submit', class: 'button primary', value: 'close' }, 'Done');
    const sizeRow = h('div', { class: 'setting' }, h('span', { id: 'set-size-label' }, 'Font size'), h('div', { class: 'font-size-row', role: 'group', 'aria-labelledby': 'set-size-label' }, smaller, this.size, larger, reset));
    this.dialog = h(
      'dialog',
      { id: 'settings-dialog', class: 'dialog settings-dialog', 'aria-labelledby': 'settings-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'settings-title', class: 'dialog-title' }, 'Settings'),
        h('p', { class: 'setting-hint' }, 'kiln keeps these for you: they follow you to any browser.'),
        field('Theme', this.theme),
        field('Font', this.family, 'JetBrains Mono and Fira Code come with kiln; the others are the ones installed on this computer. kiln loads none from elsewhere.'),
        sizeRow,
        field('Cursor', this.cursor),
        field('Blinking cursor', this.blink),
        field('Scrollback lines', this.scrollback),
        field('Copy on select', this.copy, 'Selected text goes to the clipboard at once.'),
        field('Ask before pasting several lines', this.paste),
        this.keysSection(),
        h('div', { class: 'dialog-buttons' }, close),
      ),
    );
    this.theme.addEventListener('change', () => store.update({ theme: this.theme.value || undefined }));
    this.family.addEventListener('change', () => store.update({ font_family: this.family.value }));
    this.cursor.addEventListener('change', () => store.update({ cursor: this.cursor.value as CursorStyle }));
    this.blink.addEventListener('change', () => store.update({ cursor_blink: this.blink.checked }));
    this.scrollback.addEventListener('change', () => {
      const n = Math.round(Number(this.scrollback.value));
      if (Number.isFinite(n)) store.update({ scrollback: Math.min(MAX_SCROLLBACK, Math.max(0, n)) });
    });
    this.copy.addEventListener('change', () => store.update({ copy_on_select: this.copy.checked }));
    this.paste.addEventListener('change', () => store.update({ paste_confirm: this.paste.checked }));
    document.body.append(this.dialog);
    store.onChange((e) => {
      this.theme.value = store.values.theme ?? '';
      this.family.value = FONT_FAMILIES.find((f) => f.css === e.fontFamily)?.id ?? FONT_FAMILIES[0]!.id;
      this.size.textContent = `${e.fontSize} px`;
      smaller.disabled = e.fontSize <= MIN_FONT_SIZE;
      larger.disabled = e.fontSize >= MAX_FONT_SIZE;
      this.cursor.value = e.cursor;
      this.blink.checked = e.cursorBlink;
      if (document.activeElement !== this.scrollback) this.scrollback.value = String(e.scrollback);
      this.copy.checked = e.copyOnSelect;
      this.paste.checked = e.pasteConfirm;
    });
  }

  /** The key bindings: one button per shortcut; activate it, then press the new keys. */
  private keysSection(): HTMLElement {
    const message = h('p', { class: 'setting-hint key-message', role: 'status', 'aria-live': 'polite' });
    const buttons = new Map<string, HTMLButtonElement>();
    const list = h('div', { class: 'key-bindings' });
    for (const b of BINDABLE) {
      const id = `key-${b.id}`;
      const button = h('button', { type: 'button', class: 'button key-button', id, 'aria-describedby': `${id}-what` });
      buttons.set(b.id, button);
      let recording = false;
      const stop = () => {
        recording = false;
        button.classList.remove('recording');
        button.textContent = currentBindings()[b.id] ?? b.keys;
      };
      button.addEventListener('click', () => {
        recording = true;
        button.classList.add('recording');
        button.textContent = 'Press the new keys…';
        message.textContent = `Press the keys for “${b.what}”; leaving this button keeps the old ones.`;
      });
      button.addEventListener('blur', stop);
      button.addEventListener('keydown', (e) => {
        if (!recording) return;
        const combo = comboOfKey(e);
        if (!combo) return;
        e.preventDefault();
        e.stopPropagation();
        const others = currentBindings();
        delete others[b.id];
        const problem = bindingProblem(b.id, combo, others);
        if (problem) {
          message.textContent = `Not changed: ${problem}`;
          message.classList.add('error');
        } else {
          const keys = { ...(this.store.values.keys ?? {}) };
          if (combo === b.keys) delete keys[b.id];
          else keys[b.id] = combo;
          this.store.update({ keys: Object.keys(keys).length ? keys : undefined });
          setBindings(this.store.values.keys);
          message.textContent = `“${b.what}” is now ${combo}.`;
          message.classList.remove('error');
        }
        stop();
      });
      list.append(h('div', { class: 'key-binding' }, h('span', { id: `${id}-what` }, b.what), button));
    }
    const reset = h('button', { type: 'button', class: 'button', id: 'keys-reset' }, 'Default keys');
    reset.addEventListener('click', () => {
      this.store.update({ keys: undefined });
      setBindings(undefined);
      message.textContent = 'Every shortcut has its default keys again.';
      message.classList.remove('error');
    });
    this.store.onChange(() => {
      const now = currentBindings();
      for (const [id, button] of buttons) if (!button.classList.contains('recording')) button.textContent = now[id] ?? '';
    });
    return h(
      'fieldset',
      { class: 'setting keys-fieldset' },
      h('legend', {}, 'Key bindings'),
      h('p', { class: 'setting-hint' }, 'Activate a shortcut, then press its new keys. Keys another shortcut, copy and paste, or the shell need (Ctrl+C, Tab) are refused.'),
      list,
      message,
      reset,
    );
  }

  open(): void {
    if (!this.dialog.open) this.dialog.showModal();
  }

  /** One step larger (1), smaller (-1), or back to the default (0). */
  stepFont(step: -1 | 0 | 1): void {
    const current = this.store.effective().fontSize;
    this.store.update({ font_size: step === 0 ? FONT_SIZE : clampFontSize(current + step) });
  }
}

/** The font-size key of `e` (Ctrl+= / Ctrl++ larger, Ctrl+- smaller, Ctrl+0 default), if any. */
export function fontKey(e: KeyboardEvent): -1 | 0 | 1 | undefined {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return undefined;
  if (e.key === '=' || e.key === '+') return 1;
  if (e.key === '-' || e.key === '_') return -1;
  if (e.key === '0') return 0;
  return undefined;
}
