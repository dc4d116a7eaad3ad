// The owner's settings, kept by kiln (GET/PUT api/settings, ~/.kiln/ui-settings.json) so they
// follow the owner to another browser: theme (following the OS's light or dark preference until
// one is chosen), font family and size, cursor, scrollback, copy on select, paste confirmation.
// Changes apply at once and are saved shortly after (one PUT for a burst of changes).

import { authFetch } from './auth';
import type { Layout } from './panes';
import { ApiError, apiUrl } from './api';
import { FONT_FAMILIES, FONT_SIZE, MAX_FONT_SIZE, MIN_FONT_SIZE, type Theme, chromeColors, themeById } from './theme';

export type CursorStyle = 'block' | 'bar' | 'underline';

/** What kiln stores (every key optional: absent means the default). */
export interface Settings {
  version?: number;
  theme?: string;
  font_family?: string;
  font_size?: number;
  cursor?: CursorStyle;
  cursor_blink?: boolean;
  scrollback?: number;
  copy_on_select?: boolean;
  paste_confirm?: boolean;
  first_run_seen?: boolean;
  /** Rebound shortcuts: action id -> key combination (shortcuts.ts). */
  keys?: Record<string, string>;
  /** The tabs and their panes (panes.ts). */
  layout?: Layout;
}

/** The settings with every default filled in: what the terminals use. */
export interface Effective {
  theme: Theme;
  fontFamily: string;
  fontSize: number;
  cursor: CursorStyle;
  cursorBlink: boolean;
  scrollback: number;
  copyOnSelect: boolean;
  pasteConfirm: boolean;
}

export const DEFAULT_SCROLLBACK = 10_000;
export const MAX_SCROLLBACK = 100_000;
const SAVE_DELAY_MS = 400;

export function clampFontSize(n: number): number {
  return Math.min(MAX_FONT_SIZE, Math.max(MIN_FONT_SIZE, Math.round(n)));
}

export class SettingsStore {
  values: Settings = {};
  private readonly listeners: ((e: Effective) => void)[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly scheme = window.matchMedia?.('(prefers-color-scheme: light)');

  constructor(private readonly notify: (message: string, kind?: 'info' | 'error') => void) {
    // Until a theme is chosen, follow the OS.
    this.scheme?.addEventListener?.('change', () => {
      if (!this.values.theme) this.emit();
    });
  }

  /** Calls `fn` now and after every change. */
  onChange(fn: (e: Effective) => void): void {
    this.listeners.push(fn);
    fn(this.effective());
  }

  effective(): Effective {
    const v = this.values;
    const family = FONT_FAMILIES.find((f) => f.id === v.font_family) ?? FONT_FAMILIES[0]!;
    // A font kiln ships is used once loaded (xterm.js measures the cells when the family is set).
    const fontFamily = family.shipped && !this.fontReady(family.shipped) ? FONT_FAMILIES[0]!.css : family.css;
    return {
      theme: themeById(v.theme, !!this.scheme?.matches),
      fontFamily,
      fontSize: clampFontSize(v.font_size ?? FONT_SIZE),
      cursor: v.cursor ?? 'block',
      cursorBlink: v.cursor_blink ?? true,
      scrollback: Math.min(MAX_SCROLLBACK, Math.max(0, v.scrollback ?? DEFAULT_SCROLLBACK)),
      copyOnSelect: v.copy_on_select ?? false,
      pasteConfirm: v.paste_confirm ?? true,
    };
  }

  private readonly fonts = new Map<string, boolean>();

  /** Whether shipped font `name` is loaded; starts loading it (then applies again) when not. */
  private fontReady(name: string): boolean {
    const state = this.fonts.get(name);
    if (state !== undefined) return state;
    if (!document.fonts?.load) return true;
    this.fonts.set(name, false);
    const done = () => {
      this.fonts.set(name, true);
      this.emit();
    };
    Promise.all([document.fonts.load(`400 16px "${name}"`), document.fonts.load(`700 16px "${name}"`)]).then(done, done);
    return false;
  }

  /** Loads what kiln keeps (defaults when it cannot be read). */
  async load(): Promise<void> {
    try {
      const res = await authFetch(apiUrl('api/settings'));
      if (res.ok) {
        const body = (await res.json()) as { settings?: Settings };
        this.values = body.settings ?? {};
      }
    } catch {
      // the defaults stand; the tabs report an unreachable server
    }
    this.loaded = true;
    this.emit();
  }

  /** Changes some settings (`undefined` removes one: back to the default), applies and saves. */
  update(patch: Partial<Settings>): void {
    const next: Settings = { ...this.values, version: 1 };
    for (const [k, v] of Object.entries(patch) as [keyof Settings, Settings[keyof Settings]][]) {
      if (v === undefined) delete next[k];
      else (next as Record<string, unknown>)[k] = v;
    }
    this.values = next;
    this.emit();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.save(), SAVE_DELAY_MS);
  }

  /** Writes the settings now (normally called by `update` after a short delay). */
  async save(): Promise<void> {
    this.timer = undefined;
    this.saving += 1;
    try {
      const res = await authFetch(apiUrl('api/settings'), {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(this.values),
      });
      if (!res.ok) {
        const body = (await res.json().catch(() => ({}))) as { message?: string };
        throw new ApiError(res.status, 'settings', body.message ?? `${res.status}`);
      }
      this.saved += 1;
    } catch (e) {
      this.notify(`Could not save the settings: ${(e as Error).message}`, 'error');
    } finally {
      this.saving -= 1;
    }
  }

  /** Saves in flight. */
  private saving = 0;

  /** Whether a change is not saved yet (a save is scheduled or in flight). */
  get pending(): boolean {
    return this.timer !== undefined || this.saving > 0;
  }

  /** Whether the stored settings were read (or could not be: then the defaults stand). */
  loaded = false;

  /** How many saves succeeded (tests wait for it). */
  saved = 0;

  private emit(): void {
    const e = this.effective();
    applyChrome(e.theme);
    for (const fn of this.listeners) fn(e);
  }
}

/** Paints the page in the theme's colours (CSSOM custom properties: allowed by the CSP). */
export function applyChrome(theme: Theme): void {
  const root = document.documentElement;
  for (const [name, value] of Object.entries(chromeColors(theme))) root.style.setProperty(name, value);
  root.dataset.theme = theme.id;
  document.querySelector('meta[name="color-scheme"]')?.setAttribute('content', theme.light ? 'light' : 'dark');
}
