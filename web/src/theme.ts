// The themes: the terminal's colours (xterm's ITheme) for each, and the page's colours derived
// from them (CSS custom properties on <html>), with text contrast raised to WCAG AA (4.5:1) where
// a derived colour would fall short. Pure data and arithmetic: no DOM (main.ts applies them).

import type { ITheme } from '@xterm/xterm';

/** One theme: its name as shown, light or dark, and the terminal palette. */
export interface Theme {
  id: string;
  name: string;
  light: boolean;
  term: ITheme;
}

type Palette = [string, string, string, string, string, string, string, string];

function theme(
  id: string,
  name: string,
  light: boolean,
  bg: string,
  fg: string,
  cursor: string,
  selection: string,
  normal: Palette,
  bright: Palette,
): Theme {
  const [black, red, green, yellow, blue, magenta, cyan, white] = normal;
  const [brightBlack, brightRed, brightGreen, brightYellow, brightBlue, brightMagenta, brightCyan, brightWhite] = bright;
  const slider = light ? '#00000' : '#fffff';
  return {
    id,
    name,
    light,
    term: {
      background: bg,
      foreground: fg,
      cursor,
      cursorAccent: bg,
      selectionBackground: selection,
      selectionInactiveBackground: `${selection.slice(0, 7)}55`,
      scrollbarSliderBackground: `${slider}f22`,
      scrollbarSliderHoverBackground: `${slider}f44`,
      scrollbarSliderActiveBackground: `${slider}f66`,
      black,
      red,
      green,
      yellow,
      blue,
      magenta,
      cyan,
      white,
      brightBlack,
      brightRed,
      brightGreen,
      brightYellow,
      brightBlue,
      brightMagenta,
      brightCyan,
      brightWhite,
    },
  };
}

/** Every theme; the first dark and the first light one are the defaults. */
export const THEMES: Theme[] = [
  theme('kiln-dark', 'kiln dark', false, '#0f1217', '#d9dee7', '#f59e42', '#3b4a6499',
    ['#1c2128', '#f47067', '#8ddb8c', '#e0b451', '#6cb6ff', '#dcbdfb', '#56d4dd', '#adbac7'],
    ['#636e7b', '#ff938a', '#b4f1b4', '#f5d67a', '#96d0ff', '#eedcff', '#96eef5', '#f0f3f6']),
  theme('kiln-light', 'kiln light', true, '#fbfbf9', '#1f2328', '#c2410c', '#b6d4fe99',
    ['#24292f', '#cf222e', '#116329', '#7d4e00', '#0550ae', '#8250df', '#1b7c83', '#6e7781'],
    ['#57606a', '#a40e26', '#1a7f37', '#633c01', '#0969da', '#6639ba', '#3192aa', '#8c959f']),
  theme('solarized-dark', 'Solarized dark', false, '#002b36', '#93a1a1', '#d33682', '#07364299',
    ['#073642', '#dc322f', '#859900', '#b58900', '#268bd2', '#d33682', '#2aa198', '#eee8d5'],
    ['#586e75', '#cb4b16', '#93a1a1', '#839496', '#6c8fc4', '#6c71c4', '#93a1a1', '#fdf6e3']),
  theme('solarized-light', 'Solarized light', true, '#fdf6e3', '#4f5f66', '#d33682', '#eee8d5cc',
    ['#073642', '#c0302d', '#6c7c00', '#946f00', '#1f71ad', '#b62c70', '#1f8179', '#93a1a1'],
    ['#002b36', '#b3430f', '#4f5f66', '#586e75', '#52618f', '#5a5ea8', '#475b62', '#eee8d5']),
  theme('dracula', 'Dracula', false, '#282a36', '#f8f8f2', '#f8f8f2', '#44475a99',
    ['#21222c', '#ff5555', '#50fa7b', '#f1fa8c', '#bd93f9', '#ff79c6', '#8be9fd', '#f8f8f2'],
    ['#6272a4', '#ff6e6e', '#69ff94', '#ffffa5', '#d6acff', '#ff92df', '#a4ffff', '#ffffff']),
  theme('nord', 'Nord', false, '#2e3440', '#d8dee9', '#88c0d0', '#434c5e99',
    ['#3b4252', '#bf616a', '#a3be8c', '#ebcb8b', '#81a1c1', '#b48ead', '#88c0d0', '#e5e9f0'],
    ['#4c566a', '#bf616a', '#a3be8c', '#ebcb8b', '#81a1c1', '#b48ead', '#8fbcbb', '#eceff4']),
  theme('gruvbox-dark', 'Gruvbox dark', false, '#282828', '#ebdbb2', '#fe8019', '#50494599',
    ['#282828', '#cc241d', '#98971a', '#d79921', '#458588', '#b16286', '#689d6a', '#a89984'],
    ['#928374', '#fb4934', '#b8bb26', '#fabd2f', '#83a598', '#d3869b', '#8ec07c', '#ebdbb2']),
  theme('paper', 'Paper (high contrast light)', true, '#ffffff', '#000000', '#0000cc', '#add6ff99',
    ['#000000', '#b00000', '#006400', '#6b5200', '#0033b3', '#7a0099', '#005f6b', '#555555'],
    ['#444444', '#d00000', '#007a00', '#806200', '#0040d9', '#9400bd', '#007080', '#777777']),
  theme('midnight', 'Midnight (high contrast dark)', false, '#000000', '#ffffff', '#ffcc00', '#264f78cc',
    ['#000000', '#ff6b6b', '#6bff6b', '#ffff6b', '#6bb6ff', '#ff6bff', '#6bffff', '#d0d0d0'],
    ['#808080', '#ff9999', '#99ff99', '#ffff99', '#99ccff', '#ff99ff', '#99ffff', '#ffffff']),
];

export const DEFAULT_DARK = 'kiln-dark';
export const DEFAULT_LIGHT = 'kiln-light';

/** The theme called `id`, or the default for the scheme. */
export function themeById(id: string | undefined, preferLight: boolean): Theme {
  return THEMES.find((t) => t.id === id) ?? THEMES.find((t) => t.id === (preferLight ? DEFAULT_LIGHT : DEFAULT_DARK))!;
}

function rgb(hex: string): [number, number, number] {
  const h = hex.replace('#', '').slice(0, 6);
  return [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16)) as [number, number, number];
}

function hex([r, g, b]: [number, number, number]): string {
  return '#' + [r, g, b].map((c) => Math.round(Math.min(255, Math.max(0, c))).toString(16).padStart(2, '0')).join('');
}

/** `a` moved towards `b` by `t` (0..1). */
export function mix(a: string, b: string, t: number): string {
  const [x, y] = [rgb(a), rgb(b)];
  return hex([0, 1, 2].map((i) => x[i]! + (y[i]! - x[i]!) * t) as [number, number, number]);
}

/** WCAG relative luminance. */
function luminance(color: string): number {
  const [r, g, b] = rgb(color).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two colours (1..21). */
export function contrast(a: string, b: string): number {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

/** `color` moved towards `toward` until it reaches `ratio` against `bg` (or `toward` itself). */
export function ensureContrast(color: string, bg: string, toward: string, ratio = 4.5): string {
  let c = color;
  for (let t = 0; t <= 1 && contrast(c, bg) < ratio; t += 0.05) c = mix(color, toward, t);
  return contrast(c, bg) < ratio ? toward : c;
}

/** The page's colours for a theme: CSS custom property name -> value. */
export function chromeColors(t: Theme): Record<string, string> {
  const bg = t.term.background!;
  const fg = t.term.foreground!;
  const extreme = t.light ? '#000000' : '#ffffff';
  const bar = mix(bg, fg, t.light ? 0.06 : 0.05);
  const barHover = mix(bg, fg, 0.12);
  // Text must be readable on the bars and on the hover colour.
  const onBars = (c: string) => ensureContrast(ensureContrast(c, bar, extreme), barHover, extreme);
  return {
    '--bg': mix(bg, t.light ? '#ffffff' : '#000000', 0.3),
    '--panel': bg,
    '--bar': bar,
    '--bar-hover': barHover,
    '--line': mix(bg, fg, 0.18),
    '--text': onBars(fg),
    '--muted': onBars(mix(fg, bg, 0.35)),
    '--accent': t.term.cursor!,
    '--accent-text': contrast('#000000', t.term.cursor!) >= 4.5 ? '#000000' : '#ffffff',
    // The accent as text on the bars (a pressed toggle, the open ⋯ drawer's button).
    '--accent-on-bar': onBars(t.term.cursor!),
    '--ok': onBars(t.term.green!),
    '--warn': onBars(t.term.yellow!),
    '--bad': onBars(t.term.red!),
    '--focus': ensureContrast(t.term.blue!, bar, extreme, 3),
    'color-scheme': t.light ? 'light' : 'dark',
  };
}

/** The font choices; `shipped` names a font kiln serves itself (src/styles/fonts.css). */
export const FONT_FAMILIES: { id: string; name: string; css: string; shipped?: string }[] = [
  { id: 'system', name: 'System monospace', css: 'ui-monospace, "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace' },
  { id: 'jetbrains-mono', name: 'JetBrains Mono (shipped with kiln)', css: '"JetBrains Mono", ui-monospace, "DejaVu Sans Mono", monospace', shipped: 'JetBrains Mono' },
  { id: 'fira-code', name: 'Fira Code (shipped with kiln)', css: '"Fira Code", ui-monospace, "DejaVu Sans Mono", monospace', shipped: 'Fira Code' },
  { id: 'dejavu', name: 'DejaVu Sans Mono', css: '"DejaVu Sans Mono", monospace' },
  { id: 'liberation', name: 'Liberation Mono', css: '"Liberation Mono", "Cousine", monospace' },
  { id: 'menlo', name: 'Menlo / Monaco', css: 'Menlo, Monaco, monospace' },
  { id: 'consolas', name: 'Consolas', css: 'Consolas, "Lucida Console", monospace' },
];
export const FONT_FAMILY = FONT_FAMILIES[0]!.css;
export const FONT_SIZE = 14;
export const MIN_FONT_SIZE = 8;
export const MAX_FONT_SIZE = 32;
/** A little air between rows keeps underscores visible in the DOM renderer. */
export const LINE_HEIGHT = 1.1;
/** The dark default (before settings load). */
export const DARK: ITheme = THEMES[0]!.term;
