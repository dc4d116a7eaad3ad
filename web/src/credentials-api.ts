// The credentials half of the API (GET/POST /api/credentials): what kiln knows about its owner
// and its Databricks token, and pasting a personal access token. Also the pure helpers the
// banner uses (durations as m:ss, what to say about a state), unit-tested in the browser tests.

import { errorOf, request } from './api';

/** The token part of the status. */
export interface TokenStatus {
  state: 'needs_token' | 'active' | 'retrying' | 'lapsing' | 'delegated' | 'unavailable';
  reason?: string | null;
  token_id?: string | null;
  generation?: number;
  rotations?: number;
  expires_in_seconds?: number | null;
  rotates_in_seconds?: number | null;
  lifetime_seconds?: number;
  last_rotation_seconds_ago?: number | null;
  failures?: number;
  error?: string | null;
  revoke_error?: string | null;
  next_retry_in_seconds?: number | null;
  previous_tokens_alive?: number;
}

/** What GET /api/credentials answers. */
export interface CredentialsStatus {
  mode: 'local' | 'databricks_apps';
  app_name: string | null;
  owner: { state: string; email?: string; message?: string };
  workspace: string | null;
  token_page_url: string | null;
  source: 'pasted' | 'config' | 'none';
  config: string | null;
  token: TokenStatus;
}

/** What a successful paste answers. */
export interface PasteResult {
  ok: true;
  user: string;
  token_id: string;
  lifetime_seconds: number;
  message: string;
}

async function call(init?: RequestInit): Promise<Response> {
  const res = await request('api/credentials', init);
  if (!res.ok) throw await errorOf(res);
  return res;
}

/** The current owner and token state. */
export async function fetchCredentials(): Promise<CredentialsStatus> {
  return (await (await call()).json()) as CredentialsStatus;
}

/** Hands a pasted token to kiln (never to a shell). */
export async function pasteToken(token: string): Promise<PasteResult> {
  const res = await call({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  return (await res.json()) as PasteResult;
}

/** `seconds` as `m:ss` (or `h:mm:ss`). */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A lifetime as an adjective: `15-minute`, `90-second`. */
export function lifetimePhrase(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds / 60}-minute` : `${seconds}-second`;
}

/** Whether kiln deals with a Databricks token at all in this mode. */
export function tokenRelevant(st: CredentialsStatus): boolean {
  return st.source === 'pasted';
}

/** The banner's text for a state, with times counted down by `elapsed` seconds; '' hides it. */
export function bannerText(t: TokenStatus, elapsed: number, hadToken: boolean): string {
  const left = (v: number | null | undefined) => (v == null ? null : Math.max(0, v - elapsed));
  if (t.state === 'retrying') {
    const exp = left(t.expires_in_seconds);
    const retry = left(t.next_retry_in_seconds);
    return (
      `Renewing the Databricks token is failing (${t.failures ?? 1} ${t.failures === 1 ? 'attempt' : 'attempts'}): ` +
      `${t.error ?? 'unknown error'}. The current token stays valid for ${exp == null ? '?' : clock(exp)}` +
      (retry == null ? '.' : `; next attempt in ${clock(retry)}.`)
    );
  }
  if (t.state === 'lapsing') {
    const exp = left(t.expires_in_seconds);
    return `No terminal is open and kiln has not been used for a while: the Databricks token is left to expire in ${exp == null ? '?' : clock(exp)}.`;
  }
  if (t.state === 'needs_token' && hadToken) {
    return `kiln has no usable Databricks token${t.reason ? `: ${t.reason}` : ''}.`;
  }
  return '';
}
