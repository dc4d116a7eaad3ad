// The REST half of the kiln protocol (docs/protocol.md): sessions, input, resize, long-poll
// output and uploads. Every failure is an ApiError; status 0 means the server was not reached.

import { askForKey, authFetch, authHeaders } from './auth';

/** How a shell ended. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

/** A terminal session as the server describes it. */
export interface Session {
  id: string;
  label: string;
  created_at: string;
  cols: number;
  rows: number;
  pid: number | null;
  foreground: string | null;
  idle_seconds: number;
  viewers: number;
  offset: number;
  exit: ExitStatus | null;
}

/** A failed request: `status` 0 is a network failure, otherwise the HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The server could not be reached at all. */
  get network(): boolean {
    return this.status === 0;
  }
}

/** One long-poll answer. */
export interface OutputChunk {
  /** 200 with data (possibly empty), or 204 when nothing arrived within the wait. */
  status: 200 | 204;
  data: Uint8Array;
  snapshot: boolean;
  nextOffset: number;
  exit: ExitStatus | null;
}

/** What POST /api/uploads answers. */
export interface Upload {
  path: string;
  size: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/** A URL of this server, relative to the page (works behind a path prefix too). */
export function apiUrl(path: string): URL {
  return new URL(path, document.baseURI);
}

/** The ApiError of a failed answer: the body's `error` and `message`, else the status line. */
export async function errorOf(res: Response): Promise<ApiError> {
  let code = 'http_' + res.status;
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { error?: string; message?: string };
    if (body.error) code = body.error;
    if (body.message) message = body.message;
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

/**
 * Fetches `path` of this server with the access key, whatever the status; a network failure is
 * an ApiError with status 0 (an abort stays an AbortError). Every API module goes through this.
 */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  try {
    return await authFetch(apiUrl(path), init);
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the kiln server cannot be reached');
  }
}

async function send(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await request(path, init);
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401) askForKey(error.message);
    throw error;
  }
  return res;
}

const sessionPath = (id: string) => `api/sessions/${encodeURIComponent(id)}`;

/** Every session, oldest first. */
export async function listSessions(): Promise<Session[]> {
  const res = await send('api/sessions');
  return ((await res.json()) as { sessions: Session[] }).sessions;
}

/** Starts a shell of the given size. */
export async function createSession(cols: number, rows: number, label?: string): Promise<Session> {
  const body = JSON.stringify(label ? { cols, rows, label } : { cols, rows });
  const res = await send('api/sessions', { method: 'POST', headers: JSON_HEADERS, body });
  return (await res.json()) as Session;
}

export async function getSession(id: string): Promise<Session> {
  return (await (await send(sessionPath(id))).json()) as Session;
}

export async function renameSession(id: string, label: string): Promise<Session> {
  const body = JSON.stringify({ label });
  const res = await send(sessionPath(id), { method: 'PATCH', headers: JSON_HEADERS, body });
  return (await res.json()) as Session;
}

/** Ends the session's whole process group; succeeds when it is already gone. */
export async function deleteSession(id: string): Promise<void> {
  await send(sessionPath(id), { method: 'DELETE' });
}

/** Sends input bytes over HTTP (the long-poll transport). */
export async function sendInput(id: string, data: Uint8Array): Promise<void> {
  await send(`${sessionPath(id)}/input`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: data as unknown as BodyInit,
  });
}

export async function resizeSession(id: string, cols: number, rows: number): Promise<void> {
  const body = JSON.stringify({ cols, rows });
  await send(`${sessionPath(id)}/resize`, { method: 'POST', headers: JSON_HEADERS, body });
}

function parseExit(v: string | null): ExitStatus | null {
  if (!v) return null;
  try {
    return JSON.parse(v) as ExitStatus;
  } catch {
    return null;
  }
}

/** Long-polls output from `offset` (`null`: a snapshot), waiting up to `waitSecs`. */
export async function pollOutput(
  id: string,
  offset: number | null,
  waitSecs: number,
  signal: AbortSignal,
): Promise<OutputChunk> {
  const q = new URLSearchParams({ wait: String(waitSecs) });
  if (offset !== null) q.set('offset', String(offset));
  const res = await send(`${sessionPath(id)}/output?${q}`, { signal });
  const next = Number(res.headers.get('x-kiln-next-offset'));
  if (!Number.isSafeInteger(next)) {
    throw new ApiError(502, 'bad_gateway', 'the answer lacks X-Kiln-Next-Offset');
  }
  const data = res.status === 204 ? new Uint8Array() : new Uint8Array(await res.arrayBuffer());
  return {
    status: res.status === 204 ? 204 : 200,
    data,
    snapshot: res.headers.get('x-kiln-snapshot') === '1',
    nextOffset: next,
    exit: parseExit(res.headers.get('x-kiln-exit')),
  };
}

/** Uploads one file into ~/uploads; `onProgress` gets the fraction sent (0..1). */
export function uploadFile(file: File, onProgress?: (fraction: number) => void): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', apiUrl(`api/uploads?name=${encodeURIComponent(file.name)}`));
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    for (const [k, v] of Object.entries(authHeaders())) xhr.setRequestHeader(k, v);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'the kiln server cannot be reached'));
    xhr.onload = () => {
      let body: { path?: string; size?: number; error?: string; message?: string } = {};
      try {
        body = JSON.parse(xhr.responseText) as typeof body;
      } catch {
        // keep the empty body
      }
      if (xhr.status === 201 && typeof body.path === 'string') {
        resolve({ path: body.path, size: body.size ?? file.size });
      } else {
        const msg = body.message ?? `${xhr.status} ${xhr.statusText}`;
        reject(new ApiError(xhr.status, body.error ?? 'http_' + xhr.status, msg));
      }
    };
    xhr.send(file);
  });
}
