// One session's terminal stream (docs/protocol.md): a WebSocket that tracks the byte offset it
// has received, reconnects with exponential backoff and jitter, resumes from the last byte (no
// loss, no repeat), and falls back to HTTP long-polling on the same offsets when WebSockets keep
// failing while the server itself answers. Input typed while disconnected waits (bounded) and is
// sent once the stream is back.
//
// Output flow control: every byte handed to the terminal counts until the terminal reports it
// written (xterm.js's write callback). When more than FLOW_HIGH_BYTES are pending, the viewer
// asks the server to pause its output; below FLOW_LOW_BYTES it resumes. Nothing is dropped: the
// server keeps the bytes in its ring (a viewer that falls a whole ring behind gets a snapshot, as
// any slow viewer does). Only servers whose hello says `flow: true` are asked.

import { wsProtocols } from './auth';
import * as api from './api';

/** How output currently arrives. */
export type Via = 'websocket' | 'http';

/** The connection state shown to the user. */
export type ConnState =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'connected'; via: Via }
  | { kind: 'reconnecting'; retryAt: number; attempt: number; reason: string }
  | { kind: 'offline' }
  | { kind: 'gone'; reason: string }
  | { kind: 'closed' }
  | { kind: 'unauthorized'; reason: string }
  | { kind: 'stopped' };

/** What the transport tells its terminal, in stream order. */
export interface TransportHandlers {
  /** Bytes to write to the terminal (snapshot or live); call `written` once they are processed. */
  output(data: Uint8Array, written: () => void): void;
  /** The terminal is to be reset to a snapshot of a `cols`×`rows` screen; its bytes follow. */
  snapshotStart(cols: number, rows: number): void;
  /** The snapshot's last byte was delivered; live bytes follow. */
  snapshotEnd(): void;
  /** The stream is attached; `snapshot` says whether a snapshot is on its way. */
  attached(snapshot: boolean): void;
  /** Another viewer changed the session's size. */
  resized(cols: number, rows: number): void;
  /** The shell ended (after its last byte). */
  exit(status: api.ExitStatus): void;
  state(state: ConnState): void;
  /** Something worth telling the user that changes nothing else. */
  notice(message: string): void;
}

/** First retry after ~0.5 s, doubling to at most 15 s, each with up to 50 % jitter. */
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Consecutive WebSocket failures (with the session still there) before long-polling. */
const WS_FAILURES_BEFORE_POLL = 3;
/** Long-poll wait (s); the server allows 0..=30. */
const POLL_WAIT_SECS = 25;
/** Input kept while disconnected (64 KiB). */
const MAX_PENDING_BYTES = 64 << 10;
/** Largest input message: WebSocket frames (1 MiB) and HTTP input bodies (the server's limit). */
const INPUT_CHUNK_BYTES = 1 << 20;
/** Output handed to the terminal and not yet written, above which the server is asked to pause. */
export const FLOW_HIGH_BYTES = 128 << 10;
/** Pending output below which a paused server is asked to resume. */
export const FLOW_LOW_BYTES = 16 << 10;

/** Delay before reconnect attempt `attempt` (1-based). */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

/** Takes up to `max` bytes off the front of `queue`, splitting an item when needed. */
export function takeChunk(queue: Uint8Array[], max: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  while (queue.length && size < max) {
    const head = queue[0]!;
    const room = max - size;
    if (head.length <= room) {
      parts.push(head);
      size += head.length;
      queue.shift();
    } else {
      parts.push(head.subarray(0, room));
      queue[0] = head.subarray(room);
      size += room;
    }
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Hello {
  type: 'hello';
  offset: number;
  snapshot: boolean;
  snapshot_len: number;
  cols: number;
  rows: number;
  /** The server understands `pause` / `resume` (absent from older servers). */
  flow?: boolean;
}

type Control =
  | Hello
  | { type: 'snapshot'; offset: number; snapshot_len: number }
  | { type: 'resized'; cols: number; rows: number }
  | { type: 'exit'; code: number | null; signal: number | null }
  | { type: 'closed' }
  | { type: 'shutdown' }
  | { type: 'error'; message: string };

export class Transport {
  /** Offset of the next live byte; `null` until the first attach (which then gets a snapshot). */
  offset: number | null = null;
  /** The session's size as the server last reported it. */
  size = { cols: 0, rows: 0 };
  state: ConnState = { kind: 'connecting', attempt: 0 };
  private via: Via;
  private ws: WebSocket | undefined;
  private poll: AbortController | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private wsFailures = 0;
  private snapshotLeft = 0;
  private exited = false;
  private finished = false;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private httpQueue: Uint8Array[] = [];
  private httpSending = false;
  /** Output handed to the terminal and not yet reported written. */
  private unwritten = 0;
  /** Whether the current WebSocket's server understands pause/resume, and whether it is paused. */
  private flow = false;
  private paused = false;
  /** How many times this transport paused the server (tests read it). */
  private pauses = 0;
  private readonly onOnline = () => {
    if (this.state.kind === 'offline' || this.state.kind === 'reconnecting') this.connect();
  };
  /** The browser lost its network: a socket may linger half-open, so let it go and wait. */
  private readonly onOffline = () => {
    if (this.finished) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.disconnect();
    this.setState({ kind: 'offline' });
  };

  constructor(
    readonly id: string,
    private readonly h: TransportHandlers,
    options: { forcePoll?: boolean; offset?: number } = {},
  ) {
    this.via = options.forcePoll ? 'http' : 'websocket';
    // From a given offset (0: the session's whole output, while the server still holds it).
    if (options.offset !== undefined) this.offset = options.offset;
  }

  /** Connects; call once. */
  start(): void {
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
    this.connect();
  }

  /** Disconnects for good (the tab is closing or starting another session). */
  stop(): void {
    this.finish({ kind: 'stopped' });
  }

  /** Skips the rest of a backoff wait. */
  retryNow(): void {
    if (this.state.kind === 'reconnecting' || this.state.kind === 'offline') this.connect();
  }

  /** Drops the connection as a network failure would (for tests; the transport reconnects). */
  simulateDrop(): void {
    if (this.via === 'websocket') this.ws?.close(4000, 'simulated network drop');
    else if (this.poll) {
      this.poll.abort();
      this.poll = undefined;
      this.scheduleReconnect('the connection was lost');
    }
  }

  /** Whether input is flowing. */
  get connected(): boolean {
    return this.state.kind === 'connected';
  }

  /** Sends input bytes (kept, within a bound, while reconnecting). */
  send(data: Uint8Array): void {
    if (this.finished || this.exited || data.length === 0) return;
    if (!this.connected) {
      if (this.pendingBytes + data.length > MAX_PENDING_BYTES) {
        this.h.notice('Input was dropped: not connected to the shell.');
        return;
      }
      this.pending.push(data);
      this.pendingBytes += data.length;
      return;
    }
    if (this.via === 'websocket') {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      for (let at = 0; at < data.length; at += INPUT_CHUNK_BYTES) {
        ws.send(data.subarray(at, at + INPUT_CHUNK_BYTES));
      }
    } else {
      this.httpQueue.push(data);
      if (!this.httpSending) void this.drainHttpInput();
    }
  }

  /**
   * Input bytes handed to the connection and not yet on the wire (the WebSocket's buffer, or the
   * HTTP input queue), or null while not connected: a large paste waits on it (paste.ts).
   */
  backlog(): number | null {
    if (this.finished || this.exited || !this.connected) return null;
    if (this.via === 'websocket') return this.ws && this.ws.readyState === WebSocket.OPEN ? this.ws.bufferedAmount : null;
    let n = 0;
    for (const c of this.httpQueue) n += c.length;
    return this.httpSending ? n + 1 : n;
  }

  /** Asks the server to resize the session to this viewer's size. */
  resize(cols: number, rows: number): void {
    if (!this.connected || this.exited || (cols === this.size.cols && rows === this.size.rows)) return;
    this.size = { cols, rows };
    if (this.via === 'websocket') {
      this.ws?.send(JSON.stringify({ type: 'resize', cols, rows }));
    } else {
      api.resizeSession(this.id, cols, rows).catch((e: unknown) => {
        this.h.notice(`Resize failed: ${(e as Error).message}`);
      });
    }
  }

  private setState(state: ConnState): void {
    this.state = state;
    this.h.state(state);
  }

  private finish(state: ConnState): void {
    if (this.finished) return;
    this.finished = true;
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.disconnect();
    // Keys typed while reconnecting were promised to the shell; with none left to take them, say
    // so (unless the page itself stopped this connection: the tab was closed).
    if (this.pendingBytes > 0 && state.kind !== 'stopped') {
      this.h.notice('What you typed while disconnected was not sent: the shell no longer exists.');
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.setState(state);
  }

  /** Closes the socket or poll quietly (their handlers see they are no longer current). */
  private disconnect(): void {
    this.abandonSnapshot();
    this.poll?.abort();
    this.poll = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'client done');
  }

  private connect(): void {
    if (this.finished) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (navigator.onLine === false) {
      this.setState({ kind: 'offline' });
      return;
    }
    this.setState({ kind: 'connecting', attempt: this.attempt });
    if (this.via === 'websocket') this.openWebSocket();
    else void this.runPoll();
  }

  private scheduleReconnect(reason: string): void {
    if (this.finished) return;
    this.attempt += 1;
    const delay = backoffDelay(this.attempt);
    this.setState({ kind: 'reconnecting', retryAt: Date.now() + delay, attempt: this.attempt, reason });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private attachedVia(via: Via, snapshot: boolean): void {
    this.attempt = 0;
    this.setState({ kind: 'connected', via });
    this.h.attached(snapshot);
    const pending = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    for (const p of pending) this.send(p);
  }

  private beginSnapshot(offset: number, len: number): void {
    this.offset = offset;
    this.snapshotLeft = len;
    this.h.snapshotStart(this.size.cols, this.size.rows);
    if (len === 0) this.h.snapshotEnd();
  }

  /** A connection ended inside a snapshot: the next one must start with a fresh snapshot. */
  private abandonSnapshot(): void {
    if (this.snapshotLeft > 0) {
      this.snapshotLeft = 0;
      this.offset = null;
    }
  }

  /** Hands bytes to the terminal, counting them until it reports them written. */
  private deliver(data: Uint8Array): void {
    const n = data.length;
    this.unwritten += n;
    this.h.output(data, () => {
      this.unwritten -= n;
      this.checkFlow();
    });
    this.checkFlow();
  }

  /** Pauses or resumes the server's output to this viewer as the terminal falls behind or catches up. */
  private checkFlow(): void {
    const ws = this.ws;
    if (!this.flow || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (!this.paused && this.unwritten > FLOW_HIGH_BYTES) {
      this.paused = true;
      this.pauses += 1;
      ws.send(JSON.stringify({ type: 'pause' }));
    } else if (this.paused && this.unwritten < FLOW_LOW_BYTES) {
      this.paused = false;
      ws.send(JSON.stringify({ type: 'resume' }));
    }
  }

  /** Output handed to the terminal and not yet written, and whether the server is paused (tests). */
  get flowState(): { unwritten: number; paused: boolean; pauses: number } {
    return { unwritten: this.unwritten, paused: this.paused, pauses: this.pauses };
  }

  private onBytes(data: Uint8Array): void {
    if (this.snapshotLeft > 0) {
      const n = Math.min(this.snapshotLeft, data.length);
      this.deliver(data.subarray(0, n));
      this.snapshotLeft -= n;
      if (this.snapshotLeft === 0) this.h.snapshotEnd();
      data = data.subarray(n);
      if (data.length === 0) return;
    }
    this.offset = (this.offset ?? 0) + data.length;
    this.deliver(data);
  }

  private openWebSocket(): void {
    const url = api.apiUrl(
      `api/sessions/${encodeURIComponent(this.id)}/ws` + (this.offset === null ? '' : `?offset=${this.offset}`),
    );
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws: WebSocket;
    try {
      ws = new WebSocket(url, wsProtocols());
    } catch (e) {
      this.scheduleReconnect(`cannot open a WebSocket: ${(e as Error).message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let hello = false;
    let closedFrame = false;
    let shutdown = false;
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws) return;
      if (typeof ev.data !== 'string') {
        this.onBytes(new Uint8Array(ev.data as ArrayBuffer));
        return;
      }
      let msg: Control;
      try {
        msg = JSON.parse(ev.data) as Control;
      } catch {
        this.h.notice('The server sent a message this page does not understand.');
        return;
      }
      switch (msg.type) {
        case 'hello':
          hello = true;
          this.wsFailures = 0;
          // A new connection starts unpaused on the server.
          this.flow = msg.flow === true;
          this.paused = false;
          this.size = { cols: msg.cols, rows: msg.rows };
          this.snapshotLeft = 0;
          if (msg.snapshot) this.beginSnapshot(msg.offset, msg.snapshot_len);
          else this.offset = msg.offset;
          this.attachedVia('websocket', msg.snapshot);
          this.checkFlow();
          break;
        case 'snapshot':
          this.beginSnapshot(msg.offset, msg.snapshot_len);
          break;
        case 'resized':
          this.size = { cols: msg.cols, rows: msg.rows };
          this.h.resized(msg.cols, msg.rows);
          break;
        case 'exit':
          this.exited = true;
          this.h.exit({ code: msg.code, signal: msg.signal });
          break;
        case 'closed':
          closedFrame = true;
          break;
        case 'shutdown':
          shutdown = true;
          break;
        case 'error':
          this.h.notice(`Server: ${msg.message}`);
          break;
      }
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.abandonSnapshot();
      if (this.finished) return;
      if (closedFrame || ev.code === 1000) {
        this.finish({ kind: 'closed' });
      } else if (ev.code === 4404) {
        this.finish({ kind: 'gone', reason: 'the session no longer exists' });
      } else if (ev.code === 4400) {
        // The server no longer has our offset: start over from a snapshot.
        this.offset = null;
        this.scheduleReconnect(ev.reason || 'the server refused the stream position');
      } else if (hello) {
        this.scheduleReconnect(shutdown ? 'the server is restarting' : 'the connection was lost');
      } else {
        void this.diagnose();
      }
    };
  }

  /** A WebSocket never opened: find out whether the server, the session or WebSockets fail. */
  private async diagnose(): Promise<void> {
    try {
      const s = await api.getSession(this.id);
      if (this.finished) return;
      this.size = { cols: s.cols, rows: s.rows };
      this.wsFailures += 1;
      if (this.wsFailures >= WS_FAILURES_BEFORE_POLL) {
        this.via = 'http';
        this.h.notice('WebSockets do not get through; using HTTP long-polling instead.');
        this.connect();
      } else {
        this.scheduleReconnect('the WebSocket connection failed');
      }
    } catch (e) {
      this.failed(e);
    }
  }

  private failed(e: unknown): void {
    if (this.finished) return;
    const err = e instanceof api.ApiError ? e : new api.ApiError(0, 'network', String(e));
    if (err.status === 404) {
      this.finish({ kind: 'gone', reason: 'the session no longer exists' });
    } else if (err.status === 401) {
      this.finish({ kind: 'unauthorized', reason: err.message });
    } else if (err.network) {
      this.scheduleReconnect('the server cannot be reached');
    } else {
      this.scheduleReconnect(err.message);
    }
  }

  private async runPoll(): Promise<void> {
    const ctrl = new AbortController();
    this.poll?.abort();
    this.poll = ctrl;
    try {
      const s = await api.getSession(this.id);
      this.size = { cols: s.cols, rows: s.rows };
      let first = true;
      while (!ctrl.signal.aborted) {
        const chunk = await api.pollOutput(this.id, this.offset, first ? 0 : POLL_WAIT_SECS, ctrl.signal);
        if (ctrl.signal.aborted) return;
        if (chunk.snapshot) {
          this.beginSnapshot(chunk.nextOffset, chunk.data.length);
          if (chunk.data.length) this.onBytes(chunk.data);
        } else if (chunk.data.length) {
          this.onBytes(chunk.data);
        }
        if (first) {
          first = false;
          this.attachedVia('http', chunk.snapshot);
        }
        const atEnd = chunk.status === 200 && !chunk.snapshot && chunk.data.length === 0;
        if (chunk.exit && atEnd) {
          this.exited = true;
          this.h.exit(chunk.exit);
          return;
        }
      }
    } catch (e) {
      if (ctrl.signal.aborted || (e instanceof DOMException && e.name === 'AbortError')) return;
      if (this.poll === ctrl) this.poll = undefined;
      this.failed(e);
    }
  }

  private async drainHttpInput(): Promise<void> {
    this.httpSending = true;
    try {
      while (this.httpQueue.length && !this.finished) {
        const chunk = takeChunk(this.httpQueue, INPUT_CHUNK_BYTES);
        try {
          await api.sendInput(this.id, chunk);
        } catch (e) {
          if (e instanceof api.ApiError && e.status === 409) {
            this.httpQueue = [];
            return;
          }
          this.h.notice(`Input was not delivered: ${(e as Error).message}`);
        }
      }
    } finally {
      this.httpSending = false;
    }
  }
}
