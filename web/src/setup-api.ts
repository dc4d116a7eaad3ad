// The agents setup API of kiln serve (GET /api/agents, POST /api/agents/{name}/retry) and the
// pure functions the setup panel shows it with. GET answers 404 when setup is off.

import { errorOf, request } from './api';

export type SetupStatus = 'pending' | 'running' | 'ok' | 'failed' | 'skipped';

/** One step of an item (`install`, `configure`). */
export interface SetupStep {
  name: string;
  status: SetupStatus;
  started_ms: number | null;
  duration_ms: number | null;
  message: string | null;
}

/** One agent, or an extra (git identity, Databricks CLI). */
export interface SetupItem {
  name: string;
  display: string;
  status: SetupStatus;
  version: string | null;
  steps: SetupStep[];
  log_tail: string[];
}

/** What GET /api/agents answers. */
export interface SetupSnapshot {
  running: boolean;
  runs: number;
  models_source: string | null;
  notes: string[];
  items: SetupItem[];
}

/** The progress, or `null` when setup is off on this server. */
export async function fetchSetup(): Promise<SetupSnapshot | null> {
  const res = await request('api/agents');
  if (res.status === 404) return null;
  if (!res.ok) throw await errorOf(res);
  const body = (await res.json()) as SetupSnapshot | { enabled: false };
  if ('enabled' in body && body.enabled === false) return null;
  return body as SetupSnapshot;
}

/** Sets one item up again. */
export async function retrySetup(name: string): Promise<void> {
  const res = await request(`api/agents/${encodeURIComponent(name)}/retry`, { method: 'POST' });
  if (res.status !== 202) throw await errorOf(res);
}

/** `850 ms`, `4.2 s`, `2 min 5 s`. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms == null || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** Counts for the status-bar summary. */
export interface SetupSummary {
  total: number;
  ok: number;
  failed: number;
  busy: number;
}

export function summarize(snap: SetupSnapshot): SetupSummary {
  const count = (f: (s: SetupStatus) => boolean) => snap.items.filter((i) => f(i.status)).length;
  return {
    total: snap.items.length,
    ok: count((s) => s === 'ok' || s === 'skipped'),
    failed: count((s) => s === 'failed'),
    busy: count((s) => s === 'running' || s === 'pending'),
  };
}

/** The status-bar text: `agents ✓`, `agents 2/7 …`, `agents: 1 failed`. */
export function summaryText(snap: SetupSnapshot): string {
  const s = summarize(snap);
  if (s.failed > 0) return `agents: ${s.failed} failed`;
  if (snap.running || s.busy > 0) return `agents ${s.ok}/${s.total} …`;
  return 'agents ✓';
}

/** One line per step: `install ✓ 4.2 s — installed 2.1.197`. */
export function stepLine(step: SetupStep): string {
  const mark = { pending: '·', running: '…', ok: '✓', failed: '✗', skipped: '–' }[step.status];
  const parts = [`${step.name} ${mark}`];
  const d = formatDuration(step.duration_ms);
  if (d) parts.push(d);
  let line = parts.join(' ');
  if (step.message) line += ` — ${step.message}`;
  return line;
}
