// The workspace sync API of kiln serve (GET /api/sync, POST /api/sync/retry) and the pure
// functions the sync indicator and panel show it with. `{"enabled": false}` when sync is off.

import { errorOf, request } from './api';

export type SyncState = 'synced' | 'pending' | 'syncing' | 'failed' | 'conflict' | 'restoring' | 'empty';

/** One project, as `GET /api/sync` reports it. */
export interface SyncProject {
  name: string;
  state: SyncState;
  head: string | null;
  synced_commit: string | null;
  synced_at_ms: number | null;
  done: number;
  total: number;
  skipped: { path: string; reason: string }[];
  message: string | null;
  attempts: number;
  next_retry_ms: number | null;
  workspace_path: string | null;
}

/** The whole document. */
export interface SyncSnapshot {
  enabled: true;
  workspace: string | null;
  note: string | null;
  projects: SyncProject[];
}

/** The sync status; `null` when sync is off. */
export async function fetchSync(): Promise<SyncSnapshot | null> {
  const res = await request('api/sync');
  if (res.status === 404) return null;
  if (!res.ok) throw await errorOf(res);
  const body = (await res.json()) as SyncSnapshot | { enabled: false };
  return body.enabled ? (body as SyncSnapshot) : null;
}

/** Queues a sync of one project now. */
export async function retrySync(name: string): Promise<void> {
  const res = await request('api/sync/retry', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name }),
  });
  if (res.status !== 202) throw await errorOf(res);
}

/** The indicator's text: `sync ✓`, `sync 2 pending`, `sync: 1 failed`. */
export function syncSummary(snap: SyncSnapshot): string {
  const count = (s: SyncState[]) => snap.projects.filter((p) => s.includes(p.state)).length;
  const failed = count(['failed', 'conflict']);
  if (failed > 0) return `sync: ${failed} failed`;
  const busy = count(['pending', 'syncing', 'restoring']);
  if (busy > 0) return `sync ${busy} pending`;
  if (snap.note) return 'sync …';
  return snap.projects.length > 0 ? 'sync ✓' : 'sync';
}

/** One line about a project: state, commit, progress or reason. */
export function projectLine(p: SyncProject, now = Date.now()): string {
  const short = (c: string | null) => (c ? c.slice(0, 12) : '');
  switch (p.state) {
    case 'synced':
      return `synced ${short(p.synced_commit)}${p.synced_at_ms ? ` · ${ago(now - p.synced_at_ms)}` : ''}`;
    case 'syncing':
      return `syncing ${short(p.head)} · ${p.done}/${p.total} files`;
    case 'pending':
      return `pending ${short(p.head)}`;
    case 'restoring':
      return 'restoring from the workspace';
    case 'empty':
      return 'no commits yet';
    case 'failed': {
      const retry = p.next_retry_ms ? ` · retry in ${Math.max(0, Math.round((p.next_retry_ms - now) / 1000))} s` : '';
      return `failed: ${p.message ?? 'unknown error'}${retry}`;
    }
    case 'conflict':
      return `left alone: ${p.message ?? ''}`;
  }
}

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
