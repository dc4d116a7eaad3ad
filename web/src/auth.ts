// Local-mode sign-in (docs/security.md). The access key never travels in a cookie (cookies are
// not port-scoped: every server on 127.0.0.1 would get it) nor stays in a URL the browser keeps:
// `kiln serve` prints a link whose fragment holds a one-time code; this page trades it for the
// key (POST api/login) and keeps the key in localStorage, which belongs to this origin alone
// (scheme, host and port). Requests carry it as `Authorization: Bearer`, WebSockets as the
// subprotocol `kiln.key.<key>`. On Databricks Apps none of this is used: the proxy signs in.

const STORAGE_KEY = 'kiln.accessKey';
/** The subprotocol kiln answers with (never the one with the key). */
const WS_PROTOCOL = 'kiln';

function stored(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function store(key: string): void {
  try {
    localStorage.setItem(STORAGE_KEY, key);
  } catch {
    // storage disabled: the key lives until the page closes
  }
  memory = key;
}

let memory: string | null = stored();

/** Headers that carry the key (none when this browser has no key, e.g. on Databricks Apps). */
export function authHeaders(): Record<string, string> {
  const key = memory ?? stored();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** WebSocket subprotocols: `kiln`, plus the key when there is one. */
export function wsProtocols(): string[] {
  const key = memory ?? stored();
  return key ? [WS_PROTOCOL, `kiln.key.${key}`] : [WS_PROTOCOL];
}

/** `fetch` with the key's header added. */
export function authFetch(input: URL | string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(authHeaders())) headers.set(k, v);
  return fetch(input, { credentials: 'same-origin', cache: 'no-store', ...init, headers });
}

/** Removes the one-time code from the address (the history entry) and returns it. */
function takeCode(): string | null {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const code = params.get('code');
  if (code === null) return null;
  params.delete('code');
  const rest = params.toString();
  history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  return code;
}

/**
 * Signs in with the code of the address, if any. Resolves when the page can go on; a refused
 * code leaves any stored key in place (the API then tells whether it still works).
 */
export async function signIn(): Promise<void> {
  const code = takeCode();
  if (code === null) return;
  let res: Response;
  try {
    res = await fetch(new URL('api/login', document.baseURI), {
      method: 'POST',
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
  } catch {
    return;
  }
  if (!res.ok) return;
  const body = (await res.json()) as { key?: string };
  if (typeof body.key === 'string' && body.key) store(body.key);
}

let asking = false;

/** Element creation for the dialog (this module stays free of DOM code at load: Node imports it
 *  in the unit tests through api.ts). */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string>, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
  el.append(...children);
  return el;
}

/**
 * The server refused the key (or this browser has none): asks for the access key in a dialog,
 * stores it and reloads. Shown once however many requests fail.
 */
export function askForKey(message: string): void {
  if (asking) return;
  asking = true;
  const input = h('input', {
    type: 'password',
    class: 'cred-input',
    id: 'access-key-input',
    autocomplete: 'off',
    'aria-label': 'Access key',
  });
  const error = h('p', { class: 'cred-error', role: 'alert' });
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { class: 'cred-title', id: 'access-title' }, 'kiln: access key needed'),
    h('p', {}, message),
    h(
      'p',
      {},
      'Open the one-time sign-in link that kiln serve printed, or paste the access key it printed (this browser then keeps it for this address).',
    ),
    input,
    error,
    h('div', { class: 'dialog-buttons' }, h('button', { class: 'button primary', type: 'submit', value: 'ok' }, 'Sign in')),
  );
  const dialog = h('dialog', { id: 'access-dialog', class: 'dialog cred-dialog', 'aria-labelledby': 'access-title' }, form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) {
      error.textContent = 'Paste the access key first.';
      return;
    }
    void (async () => {
      let res: Response;
      try {
        res = await fetch(new URL('api/status', document.baseURI), {
          headers: { authorization: `Bearer ${key}` },
          cache: 'no-store',
        });
      } catch {
        error.textContent = 'The kiln server cannot be reached.';
        return;
      }
      if (res.status === 401) {
        error.textContent = 'That is not the access key of this kiln.';
        return;
      }
      store(key);
      location.reload();
    })();
  });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}
