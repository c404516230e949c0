/**
 * Splitting a byte stream into frames: newline-delimited lines, or binary frames each behind a
 * uint32 big-endian length. Frames are taken one at a time (`next()`), so a connection can stop
 * taking them the moment the pipeline is full and leave the rest of a chunk unparsed.
 */
import { LimitError, RecordError, type RxDataError } from '../../src/errors.js';

/** How a byte stream is cut into records. */
export type Framing = 'lines' | 'length-prefixed';

/** Turns a frame's bytes into a record; `origin` names the peer, for error messages. */
export type Decoder<T> = (frame: Buffer, origin: string) => T;

/** A frame's bytes parsed as UTF-8 JSON (the default for lines, WebSocket and MQTT). */
export const json: Decoder<unknown> = (frame) => JSON.parse(frame.toString('utf8')) as unknown;
/** A frame's bytes as a UTF-8 string. */
export const utf8: Decoder<string> = (frame) => frame.toString('utf8');
/** A frame's bytes as they are (the default for length-prefixed frames). */
export const raw: Decoder<Buffer> = (frame) => frame;

/**
 * A frame the peer cut off by closing the connection (a line without its newline, a
 * length-prefixed frame without all its bytes). Never a record: the sources drop it and count it
 * (`stats.skipped`, `extra.truncated`), whatever `onError` says, since it is the connection that
 * failed, not the data.
 */
export class TruncatedFrameError extends RecordError {
  override name = 'TruncatedFrameError';
  constructor(
    message: string,
    origin: string,
    /** Bytes of the cut-off frame that were received. */
    readonly bytes: number,
  ) {
    super(message, origin);
  }
}

/** Default largest frame: 1 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 1 << 20;

const EMPTY = Buffer.alloc(0);

/** A splitter for one connection. */
export interface Framer {
  /** Appends received bytes (the caller stops reading while frames are left). */
  push(chunk: Buffer): void;
  /** The peer closed: what is left of a frame becomes a {@link TruncatedFrameError}. */
  end(): void;
  /**
   * The next complete frame; undefined when none is complete yet; an error for an oversized
   * (LimitError) or truncated ({@link TruncatedFrameError}) frame.
   */
  next(): Buffer | RxDataError | undefined;
  /** After an error from `next()`, whether the stream can no longer be trusted (drop the connection). */
  readonly broken: boolean;
  /** Bytes received and not yet taken as frames (at most `maxFrameBytes` + 4 + one chunk). */
  readonly held: number;
}

export function createFramer(framing: Framing, maxFrameBytes: number, origin: string): Framer {
  if (!(Number.isInteger(maxFrameBytes) && maxFrameBytes >= 1)) throw new RangeError(`maxFrameBytes must be an integer >= 1, got ${maxFrameBytes}`);
  if (framing === 'lines') return new LineFramer(maxFrameBytes, origin);
  if (framing === 'length-prefixed') return new LengthFramer(maxFrameBytes, origin);
  throw new TypeError(`unknown framing '${String(framing)}' (use 'lines' or 'length-prefixed')`);
}

/** Bytes received and not yet framed, with a read offset (compacted on the next push). */
abstract class Pending {
  protected buf: Buffer = EMPTY;
  protected off = 0;
  protected ended = false;
  push(chunk: Buffer): void {
    this.buf = this.off < this.buf.length ? Buffer.concat([this.buf.subarray(this.off), chunk]) : chunk;
    this.off = 0;
  }
  end(): void {
    this.ended = true;
  }
  get held(): number {
    return this.buf.length - this.off;
  }
  protected clear(): void {
    this.buf = EMPTY;
    this.off = 0;
  }
}

/**
 * Newline-delimited frames (`\r\n` too); blank lines are ignored. A line longer than the limit is
 * reported once and discarded up to its newline, so it never costs more than the limit plus a chunk.
 */
class LineFramer extends Pending implements Framer {
  readonly broken = false;
  /** Inside an oversized line: drop bytes until its newline. */
  private discarding = false;
  constructor(
    private readonly max: number,
    private readonly origin: string,
  ) {
    super();
  }

  next(): Buffer | RxDataError | undefined {
    for (;;) {
      const nl = this.buf.indexOf(10, this.off);
      if (nl === -1) {
        const rest = this.buf.length - this.off;
        if (this.discarding) {
          this.clear();
        } else if (rest > this.max + 1 || (rest === this.max + 1 && this.buf[this.buf.length - 1] !== 13)) {
          // Too long whatever follows (a trailing '\r' may still belong to a '\r\n' ending):
          // the same verdict as if the whole line had come in one chunk.
          this.clear();
          this.discarding = true;
          return new LimitError(`line longer than maxFrameBytes (${this.max} bytes) discarded`, this.origin);
        } else if (this.ended && rest > 0) {
          // The peer closed inside a line: what came of it is not a record.
          this.clear();
          return new TruncatedFrameError(`connection closed inside a line (${rest} bytes of it received); dropped`, this.origin, rest);
        }
        return undefined;
      }
      const start = this.off;
      this.off = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const line = trimCr(this.buf.subarray(start, nl));
      if (line.length > this.max) return new LimitError(`line of ${line.length} bytes longer than maxFrameBytes (${this.max}) discarded`, this.origin);
      if (line.length > 0) return line;
    }
  }
}

const trimCr = (line: Buffer): Buffer => (line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, line.length - 1) : line);

/**
 * Binary frames behind a uint32 big-endian length. A length over the limit breaks the stream:
 * nothing after it can be trusted, and nothing is allocated for it.
 */
class LengthFramer extends Pending implements Framer {
  broken = false;
  constructor(
    private readonly max: number,
    private readonly origin: string,
  ) {
    super();
  }

  override push(chunk: Buffer): void {
    // Nothing after a bad header can be framed: keep none of it (the connection is being dropped).
    if (!this.broken) super.push(chunk);
  }

  next(): Buffer | RxDataError | undefined {
    if (this.broken) return undefined;
    const avail = this.buf.length - this.off;
    if (avail >= 4) {
      const length = this.buf.readUInt32BE(this.off);
      if (length > this.max) {
        this.broken = true;
        this.clear();
        return new LimitError(`frame of ${length} bytes exceeds maxFrameBytes (${this.max}); connection dropped`, this.origin);
      }
      if (avail >= 4 + length) {
        const frame = this.buf.subarray(this.off + 4, this.off + 4 + length);
        this.off += 4 + length;
        return frame;
      }
    }
    if (this.ended && avail > 0) {
      this.broken = true;
      this.clear();
      return new TruncatedFrameError(`connection closed inside a frame (${avail} bytes of it received); dropped`, this.origin, avail);
    }
    return undefined;
  }
}

/** One length-prefixed frame around `payload` (for senders and tests). */
export function lengthPrefixed(payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}
