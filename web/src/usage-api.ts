// The model usage API of kiln serve (GET /api/usage: the gateway's usage this session and
// today, and whether model calls are traced to MLflow) and the pure functions the usage
// indicator and panel show it with. 404 when the gateway is off.

import { authFetch } from './auth';
import { ApiError, apiUrl } from './api';

/** One agent and model this session. */
export interface AgentUsage {
  agent: string;
  model: string;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
}

/** Tracing to MLflow. */
export interface TraceStatus {
  enabled: boolean;
  state: 'off' | 'waiting' | 'flowing' | 'failing';
  endpoint: string | null;
  experiment_id: string | null;
  content: boolean;
  exported_spans: number;
  dropped_spans: number;
  failed_exports: number;
  last_export_at: string | null;
  last_error: string | null;
  last_error_at: string | null;
}

/** The part of `GET /api/usage` the UI shows. */
export interface UsageSnapshot {
  started_at: string;
  agents: AgentUsage[];
  today: { date: string; agents: AgentUsage[] };
  tracing: TraceStatus;
}

/** The usage; `null` when the gateway is off. */
export async function fetchUsage(): Promise<UsageSnapshot | null> {
  let res: Response;
  try {
    res = await authFetch(apiUrl('api/usage'));
  } catch (e) {
    throw new ApiError(0, 'network', `kiln is not reachable: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (res.status === 404) return null;
  if (!res.ok) throw new ApiError(res.status, 'http', `GET /api/usage answered ${res.status}`);
  const body = (await res.json()) as Partial<UsageSnapshot> & { gateway?: boolean };
  if (body.gateway === false) return null;
  return {
    started_at: body.started_at ?? '',
    agents: body.agents ?? [],
    today: body.today ?? { date: '', agents: [] },
    tracing: body.tracing ?? ({ enabled: false, state: 'off' } as TraceStatus),
  };
}

/** `12`, `3.4k`, `1.2M`. */
export function tokens(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

/** Input plus output tokens of a list. */
export function total(rows: AgentUsage[]): number {
  return rows.reduce((s, r) => s + r.input_tokens + r.output_tokens, 0);
}

/** The indicator's text: `tokens 3.4k today` plus the tracing mark (`· trace ✓`, `· trace ✗`). */
export function usageSummary(s: UsageSnapshot): string {
  const trace = s.tracing.enabled ? (s.tracing.state === 'failing' ? ' · trace ✗' : s.tracing.state === 'flowing' ? ' · trace ✓' : ' · trace …') : '';
  return `tokens ${tokens(total(s.today.agents))} today${trace}`;
}

/** One line about tracing. */
export function tracingLine(t: TraceStatus): string {
  if (!t.enabled) return 'Tracing is off (set MLFLOW_TRACKING_URI or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; see docs/observability.md).';
  const where = `${t.endpoint ?? '?'}${t.experiment_id ? ` (experiment ${t.experiment_id})` : ''}`;
  const last = t.last_export_at ? `last export ${t.last_export_at}` : 'nothing exported yet';
  const err = t.state === 'failing' && t.last_error ? ` · failing: ${t.last_error}` : '';
  return `Tracing ${t.state} → ${where} · ${t.exported_spans} spans sent, ${t.dropped_spans} dropped · ${last}${err}${t.content ? ' · prompt text recorded' : ''}`;
}
