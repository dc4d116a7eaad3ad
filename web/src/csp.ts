// Keeps xterm.js working under the server's Content-Security-Policy, which has no
// 'unsafe-inline' for styles:
// - the <style> elements xterm.js creates at run time get the per-response nonce that the server
//   put both in its CSP (`style-src 'self' 'nonce-…'`) and in index.html's
//   <meta name="kiln-style-nonce">;
// - style *attributes* (which no nonce can allow; xterm's DOM renderer sets some with
//   setAttribute) are applied through the CSSOM instead, which CSP does not govern.

const PLACEHOLDER = '__KILN_STYLE_NONCE__';

/** The page's style nonce, or '' when the server did not provide one. */
export function styleNonce(doc: Document = document): string {
  const meta = doc.querySelector<HTMLMetaElement>('meta[name="kiln-style-nonce"]');
  const nonce = meta?.content ?? '';
  return nonce === PLACEHOLDER ? '' : nonce;
}

/** Installs both shims; call once, before any terminal is created. */
export function installCspShims(doc: Document = document): void {
  const nonce = styleNonce(doc);
  if (nonce) {
    const create = doc.createElement.bind(doc) as (tag: string, options?: ElementCreationOptions) => HTMLElement;
    const withNonce = (tag: string, options?: ElementCreationOptions): HTMLElement => {
      const el = create(tag, options);
      if (el instanceof HTMLStyleElement) el.nonce = nonce;
      return el;
    };
    doc.createElement = withNonce as typeof doc.createElement;
  }
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (this: Element, name: string, value: string): void {
    if (name.toLowerCase() === 'style' && (this instanceof HTMLElement || this instanceof SVGElement)) {
      this.style.cssText = String(value);
      return;
    }
    setAttribute.call(this, name, value);
  };
}
