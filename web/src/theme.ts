// The dark theme of the terminal (the page's colours live in styles/app.css). Themes become a
// setting in a later issue; this is the one place that defines them.

import type { ITheme } from '@xterm/xterm';

export const DARK: ITheme = {
  background: '#0f1217',
  foreground: '#d9dee7',
  cursor: '#f59e42',
  cursorAccent: '#0f1217',
  selectionBackground: '#3b4a6499',
  selectionInactiveBackground: '#3b4a6455',
  scrollbarSliderBackground: '#ffffff22',
  scrollbarSliderHoverBackground: '#ffffff44',
  scrollbarSliderActiveBackground: '#ffffff66',
  black: '#1c2128',
  red: '#f47067',
  green: '#8ddb8c',
  yellow: '#e0b451',
  blue: '#6cb6ff',
  magenta: '#dcbdfb',
  cyan: '#56d4dd',
  white: '#adbac7',
  brightBlack: '#636e7b',
  brightRed: '#ff938a',
  brightGreen: '#b4f1b4',
  brightYellow: '#f5d67a',
  brightBlue: '#96d0ff',
  brightMagenta: '#eedcff',
  brightCyan: '#96eef5',
  brightWhite: '#f0f3f6',
};

export const FONT_FAMILY =
  'ui-monospace, "JetBrains Mono", "Cascadia Mono", "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace';
export const FONT_SIZE = 14;
/** A little air between rows keeps underscores visible in the DOM renderer. */
export const LINE_HEIGHT = 1.1;
