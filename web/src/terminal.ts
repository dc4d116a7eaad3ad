// One xterm.js terminal with its addons: fit, web links, Unicode 11 widths, search, OSC 52
// clipboard (write only: programs may set the clipboard, never read it), and the WebGL renderer
// with a fallback to the DOM renderer when WebGL is missing, runs in software (SwiftShader,
// llvmpipe: slower than the DOM renderer, and it drew blank terminals at device pixel ratios of 2
// and more) or loses its context.

import { Terminal } from '@xterm/xterm';
import { ClipboardAddon, type IClipboardProvider } from '@xterm/addon-clipboard';
import { FitAddon } from '@xterm/addon-fit';
import { SearchAddon } from '@xterm/addon-search';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { WebglAddon } from '@xterm/addon-webgl';
import type { Effective } from './settings';
import { DARK, FONT_FAMILY, FONT_SIZE, LINE_HEIGHT } from './theme';

/** Lines of scrollback kept in the browser. */
const SCROLLBACK_LINES = 10_000;

export type Renderer = 'webgl' | 'dom';

/** Which renderer to use: WebGL when the GPU draws it, always, or never. */
export type RendererChoice = 'auto' | 'webgl' | 'dom';

let softwareGl: boolean | undefined;

/** Whether WebGL 2 here is drawn in software (or missing): then the DOM renderer is better. */
export function webglIsSoftware(): boolean {
  if (softwareGl !== undefined) return softwareGl;
  softwareGl = true;
  try {
    const gl = document.createElement('canvas').getContext('webgl2');
    if (gl) {
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      const name = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
      softwareGl = /swiftshader|llvmpipe|softpipe|software|basic render/i.test(name);
      gl.getExtension('WEBGL_lose_context')?.loseContext();
    }
  } catch {
    softwareGl = true;
  }
  return softwareGl;
}

/** OSC 52: a program may put text on the clipboard; reading it back is refused. */
const writeOnlyClipboard: IClipboardProvider = {
  readText: () => '',
  writeText: async (_selection, text) => {
    await navigator.clipboard?.writeText(text);
  },
};

export class KilnTerminal {
  readonly term: Terminal;
  readonly search = new SearchAddon();
  private readonly fit = new FitAddon();
  private webgl: WebglAddon | undefined;
  renderer: Renderer = 'dom';

  constructor(
    readonly host: HTMLElement,
    options: { renderer?: RendererChoice } = {},
  ) {
    this.term = new Terminal({
      allowProposedApi: true,
      cursorBlink: true,
      fontFamily: FONT_FAMILY,
      fontSize: FONT_SIZE,
      lineHeight: LINE_HEIGHT,
      scrollback: SCROLLBACK_LINES,
      theme: DARK,
      macOptionIsMeta: false,
      rightClickSelectsWord: true,
      // Links open in a new browser tab without access to this page.
    });
    this.term.loadAddon(this.fit);
    this.term.loadAddon(this.search);
    this.term.loadAddon(new Unicode11Addon());
    this.term.unicode.activeVersion = '11';
    this.term.loadAddon(new WebLinksAddon((_ev, uri) => window.open(uri, '_blank', 'noopener,noreferrer')));
    this.term.loadAddon(new ClipboardAddon(undefined, writeOnlyClipboard));
    this.term.open(host);
    const choice = options.renderer ?? 'auto';
    if (choice === 'webgl' || (choice === 'auto' && !webglIsSoftware())) this.enableWebgl();
  }

  private enableWebgl(): void {
    if (typeof WebGL2RenderingContext === 'undefined') return;
    try {
      const webgl = new WebglAddon();
      webgl.onContextLoss(() => {
        // Back to the DOM renderer; it draws the same buffer.
        webgl.dispose();
        if (this.webgl === webgl) this.webgl = undefined;
        this.renderer = 'dom';
      });
      this.term.loadAddon(webgl);
      this.webgl = webgl;
      this.renderer = 'webgl';
    } catch {
      this.renderer = 'dom';
    }
  }

  /** Applies the owner's settings (theme, font, cursor, scrollback); the caller refits. */
  apply(e: Effective): void {
    const o = this.term.options;
    if (o.theme !== e.theme.term) o.theme = e.theme.term;
    if (o.fontFamily !== e.fontFamily) o.fontFamily = e.fontFamily;
    if (o.fontSize !== e.fontSize) o.fontSize = e.fontSize;
    if (o.cursorStyle !== e.cursor) o.cursorStyle = e.cursor;
    if (o.cursorBlink !== e.cursorBlink) o.cursorBlink = e.cursorBlink;
    if (o.scrollback !== e.scrollback) o.scrollback = e.scrollback;
  }

  /** The size that fills the host, or undefined while the host has no layout. */
  proposedSize(): { cols: number; rows: number } | undefined {
    const dims = this.fit.proposeDimensions();
    if (!dims || !Number.isFinite(dims.cols) || !Number.isFinite(dims.rows)) return undefined;
    if (dims.cols < 2 || dims.rows < 1) return undefined;
    return { cols: Math.min(dims.cols, 1000), rows: Math.min(dims.rows, 500) };
  }

  /** Resizes to fill the host; returns the size. */
  fitToHost(): { cols: number; rows: number } {
    const size = this.proposedSize();
    if (size && (size.cols !== this.term.cols || size.rows !== this.term.rows)) {
      this.term.resize(size.cols, size.rows);
    }
    return { cols: this.term.cols, rows: this.term.rows };
  }

  /** Runs `fn` after everything written so far has been processed. */
  afterWrites(fn: () => void): void {
    this.term.write('', fn);
  }

  /** The buffer's text, one line per row, trailing blanks trimmed. */
  text(): string {
    const buf = this.term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buf.length; i++) lines.push((buf.getLine(i)?.translateToString(true) ?? '').trimEnd());
    while (lines.length && lines[lines.length - 1] === '') lines.pop();
    return lines.join('\n');
  }

  focus(): void {
    this.term.focus();
  }

  dispose(): void {
    this.webgl = undefined;
    this.term.dispose();
  }
}
