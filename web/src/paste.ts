// Large pastes, streamed: the text goes to the shell in slices of PASTE_CHUNK_BYTES, each sent only
// once the connection has taken the previous ones (its backlog below PASTE_HIGH_WATER), with the
// page's event loop free in between, so a paste of megabytes never freezes the page, shows its
// progress and can be cancelled. While the connection is down the paste waits (nothing is dropped)
// and goes on once it is back. Bracketed paste is honoured: the end marker is sent even when the
// paste is cancelled half-way, so the shell leaves paste mode.

/** Pastes larger than this are streamed (smaller ones go through xterm.js at once). */
export const STREAM_PASTE_BYTES = 64 << 10;
/** One slice. */
const PASTE_CHUNK_BYTES = 32 << 10;
/** Most bytes waiting in the connection before the next slice. */
const PASTE_HIGH_WATER = 128 << 10;
/** How long to wait before looking at the connection again while it is busy or down (ms). */
const RETRY_MS = 25;

const BRACKET_START = '\x1b[200~';
const BRACKET_END = '\x1b[201~';

/** The bytes a terminal sends for pasted `text`: line breaks as CR, bracketed when asked. */
export function pasteBytes(text: string, bracketed: boolean): Uint8Array {
  let body = text.replace(/\r?\n/g, '\r');
  // The end marker inside the text would end the bracket early and run the rest as commands.
  if (bracketed) body = BRACKET_START + body.split(BRACKET_END).join('') + BRACKET_END;
  return new TextEncoder().encode(body);
}

/** The end of the slice that starts at `at`: at most `max` bytes, never inside a UTF-8 character. */
export function sliceEnd(bytes: Uint8Array, at: number, max: number): number {
  let end = Math.min(bytes.length, at + max);
  while (end < bytes.length && end > at + 1 && (bytes[end]! & 0xc0) === 0x80) end--;
  return end;
}

export interface PasteSink {
  /** Sends input bytes. */
  send(bytes: Uint8Array): void;
  /** Bytes not yet on the wire, or null while the connection is down (see Transport.backlog). */
  backlog(): number | null;
  /** Whether there is still a shell to paste into. */
  alive(): boolean;
  progress(sent: number, total: number): void;
}

/** One streamed paste; `done` resolves with how it ended. */
export class PasteStream {
  private cancelled = false;
  readonly total: number;
  sent = 0;
  readonly done: Promise<'done' | 'cancelled' | 'ended'>;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly sink: PasteSink,
    private readonly bracketed: boolean,
  ) {
    this.total = bytes.length;
    this.done = this.run();
  }

  /** Stops sending (what was sent stays sent); a bracketed paste is closed. */
  cancel(): void {
    this.cancelled = true;
  }

  private async run(): Promise<'done' | 'cancelled' | 'ended'> {
    this.sink.progress(0, this.total);
    while (this.sent < this.total) {
      if (!this.sink.alive()) return 'ended';
      if (this.cancelled) {
        if (this.bracketed && this.sent > 0) this.sink.send(new TextEncoder().encode(BRACKET_END));
        return 'cancelled';
      }
      const backlog = this.sink.backlog();
      if (backlog === null || backlog > PASTE_HIGH_WATER) {
        await wait(RETRY_MS);
        continue;
      }
      const end = sliceEnd(this.bytes, this.sent, PASTE_CHUNK_BYTES);
      this.sink.send(this.bytes.subarray(this.sent, end));
      this.sent = end;
      this.sink.progress(this.sent, this.total);
      await wait(0);
    }
    return 'done';
  }
}

function wait(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** "1.2 MB". */
export function megabytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n / 1e3)} kB`;
}
