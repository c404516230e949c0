/**
 * What every socket source shares: reconnect backoff, bad-record handling, and a framed
 * connection that stops reading its socket while the pipeline is full.
 */
import type { Socket } from 'node:net';
import { RecordError, RxDataError, messageOf, type OnError } from '../../src/errors.js';
import type { PushSink } from '../../src/pushSource.js';
import { TruncatedFrameError, type Framer } from './framing.js';

/** Exponential backoff with jitter between reconnection attempts. */
export interface ReconnectOptions {
  /** Delay before the first retry, ms. Default 100. */
  initialDelayMs?: number;
  /** Largest delay, ms. Default 10 000. */
  maxDelayMs?: number;
  /** Growth of the delay per failed attempt. Default 2. */
  factor?: number;
  /** Fraction of each delay drawn at random (0: none, 1: anywhere in [0, delay]). Default 0.5. */
  jitter?: number;
  /** Failed attempts in a row before giving up with an error. Default Infinity. */
  maxRetries?: number;
}

/** `true` (defaults), `false` (end or fail when the peer goes away) or tuned backoff. */
export type Reconnect = boolean | ReconnectOptions;

/** Settings for a source's bad input. */
export interface RecordErrorOptions {
  /** A malformed or oversized record fails the pipeline (`'fail'`, default) or is counted and skipped. */
  onError?: OnError;
}

export interface Backoff {
  /** Delay before attempt number `attempt` (0-based), or undefined once retries are spent. */
  delay(attempt: number): number | undefined;
  /** A connection open this long counts as healthy even without a good record: `maxDelayMs`. */
  readonly healthyAfterMs: number;
}

export function backoff(reconnect: Reconnect | undefined, random: () => number = Math.random): Backoff | undefined {
  if (reconnect === false) return undefined;
  const o = reconnect === true || reconnect === undefined ? {} : reconnect;
  const { initialDelayMs = 100, maxDelayMs = 10_000, factor = 2, jitter = 0.5, maxRetries = Infinity } = o;
  if (!(initialDelayMs >= 0 && maxDelayMs >= initialDelayMs && factor >= 1 && jitter >= 0 && jitter <= 1 && maxRetries >= 0)) {
    throw new RangeError('reconnect: need 0 <= initialDelayMs <= maxDelayMs, factor >= 1, 0 <= jitter <= 1, maxRetries >= 0');
  }
  return {
    healthyAfterMs: maxDelayMs,
    delay(attempt) {
      if (attempt >= maxRetries) return undefined;
      const base = Math.min(maxDelayMs, initialDelayMs * factor ** attempt);
      // Jitter spreads a fleet of clients that lost the same server apart.
      return base * (1 - jitter * random());
    },
  };
}

/** What one connection attempt tells {@link keepConnected}. */
export interface Attempt {
  /** The connection is up. */
  opened(): void;
  /** The connection delivered a good record: the backoff starts over. */
  healthy(): void;
  /** The connection is gone; `error` is why, when it failed rather than ended. */
  closed(error?: Error): void;
}

/**
 * Keeps a push source connected: `dial` starts one attempt and reports it through the
 * {@link Attempt}; a closed connection is dialled again after the backoff, counted in
 * `extra.reconnects`, and the source fails (or completes, without `reconnect`) once retries are
 * spent. Returns the teardown part: it cancels a pending retry (the caller closes its socket).
 *
 * A connection resets the backoff only once it proved healthy: it delivered a good record, or
 * stayed open `healthyAfterMs`. Connecting is not enough: a peer that accepts and then sends only
 * bad frames (dropped with `onError: 'skip'`) or closes at once was otherwise redialled every
 * `initialDelayMs` forever.
 */
export function keepConnected(sink: PushSink<never> | PushSink<unknown>, retry: Backoff | undefined, origin: string, dial: (attempt: Attempt) => void): () => void {
  sink.stats.extra.connected = 0;
  sink.stats.extra.reconnects = 0;
  let timer: NodeJS.Timeout | undefined;
  /** Failed attempts in a row (reset by a healthy connection). */
  let failures = 0;
  let everConnected = false;
  const connect = (): void => {
    timer = undefined;
    if (sink.signal.aborted) return;
    let openedAt: number | undefined;
    let healthy = false;
    dial({
      opened() {
        openedAt = performance.now();
        if (everConnected) sink.stats.extra.reconnects++;
        everConnected = true;
        sink.stats.extra.connected = 1;
      },
      healthy() {
        if (healthy) return;
        healthy = true;
        failures = 0;
      },
      closed(error) {
        sink.stats.extra.connected = 0;
        if (sink.signal.aborted) return;
        if (!healthy && openedAt !== undefined && retry && performance.now() - openedAt >= retry.healthyAfterMs) healthy = true;
        if (healthy) failures = 0;
        else failures++;
        const wait = retry?.delay(failures);
        if (wait !== undefined) {
          timer = setTimeout(connect, wait);
          return;
        }
        if (error) sink.error(new RxDataError(`connection failed: ${messageOf(error)}`, origin, { cause: error }));
        else if (retry) sink.error(new RxDataError(`gave up after ${failures} failed connection attempts in a row`, origin));
        else sink.complete();
      },
    });
  };
  connect();
  return () => {
    if (timer) clearTimeout(timer);
  };
}

/**
 * Reports a bad record: fails the pipeline, or counts it when skipping. Returns whether the
 * pipeline goes on.
 */
export function reportBad(sink: PushSink<never> | PushSink<unknown>, onError: OnError, error: RxDataError): boolean {
  if (onError === 'skip') {
    sink.stats.skip(error);
    return true;
  }
  sink.error(error);
  return false;
}

/**
 * Reports a frame the framer refused: a cut-off frame at close is dropped and counted
 * (`stats.skipped`, `extra.truncated`) whatever `onError` says; others go to {@link reportBad}.
 */
export function reportBadFrame(sink: PushSink<never> | PushSink<unknown>, onError: OnError, error: RxDataError): boolean {
  if (error instanceof TruncatedFrameError) {
    sink.stats.extra.truncated = (sink.stats.extra.truncated ?? 0) + 1;
    sink.stats.skip(error);
    return true;
  }
  return reportBad(sink, onError, error);
}

/** Keeps a connection-level event (an idle peer dropped) beside the skipped records' errors, without counting it as one. */
export function noteDrop(sink: PushSink<never> | PushSink<unknown>, error: RxDataError): void {
  const recent = sink.stats.recentSkips;
  recent.push(error);
  if (recent.length > 10) recent.shift();
}

/** Decodes one frame, or reports it as a RecordError naming `origin`. */
export function decodeFrame<T>(decode: (frame: Buffer, origin: string) => T, frame: Buffer, origin: string): { ok: true; value: T } | { ok: false; error: RecordError } {
  try {
    return { ok: true, value: decode(frame, origin) };
  } catch (error) {
    return { ok: false, error: new RecordError(`malformed record: ${messageOf(error)}`, origin, { cause: error }) };
  }
}

/**
 * A socket read through a framer into a push sink. It takes frames only while the sink wants
 * more; otherwise it pauses the socket, so the kernel's receive window fills and TCP flow control
 * stops the sender. `drain()` (on the sink's wake-up) takes the rest and resumes reading.
 */
export class FramedConnection {
  /** The socket closed; `onDone` runs once the framer is empty too. */
  private socketClosed = false;
  private done = false;
  private draining = false;
  private again = false;
  /** The last socket error, if any, passed to `onDone`. */
  private lastError: Error | undefined;
  /** When the peer last made progress (a good record, or we resumed reading after a pause). */
  private lastProgress = performance.now();
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly socket: Socket,
    private readonly framer: Framer,
    private readonly sink: { readonly wantsMore: boolean },
    /** Takes a complete frame. */
    private readonly onFrame: (frame: Buffer) => void,
    /** Takes an oversized or truncated frame; the connection is dropped after it when the framer is broken. */
    private readonly onBadFrame: (error: RxDataError) => void,
    /** The connection is over and everything it delivered has been taken. */
    private readonly onDone: (error: Error | undefined) => void,
    /** Limits and what to tell about connection-level losses. */
    private readonly options: {
      /** Drop the connection after this long without a good record while we were reading (the caller {@link touch}es on each). */
      readonly idleTimeoutMs?: number;
      /** The connection was dropped for idling; called before `onDone`. */
      readonly onIdle?: () => void;
      /** Bytes Node had read from the socket and not yet handed over when it failed (lost on a reset). */
      readonly onLost?: (bytes: number) => void;
    } = {},
  ) {
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      this.drain();
    });
    socket.on('end', () => {
      framer.end();
      this.drain();
    });
    socket.on('error', (error) => {
      this.lastError = error;
      // A reset discards what the paused stream had buffered: count it (what the kernel held is
      // not measurable). TCP sources are at-most-once across a reset.
      if (socket.readableLength > 0) options.onLost?.(socket.readableLength);
    });
    socket.on('close', () => {
      this.socketClosed = true;
      this.drain();
    });
    if (options.idleTimeoutMs !== undefined && options.idleTimeoutMs !== Infinity) this.armIdle(options.idleTimeoutMs);
  }

  /** The peer delivered a good record. */
  touch(): void {
    this.lastProgress = performance.now();
  }

  /** A lazy timer: re-armed for the rest of the window when the peer made progress meanwhile. */
  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.done) return;
      const now = performance.now();
      // Not the peer's fault while we hold it back (the pipeline is full): the clock restarts.
      if (!this.sink.wantsMore || this.socketClosed) this.lastProgress = now;
      const idle = now - this.lastProgress;
      if (idle < ms) {
        this.armIdle(ms - idle);
        return;
      }
      this.options.onIdle?.();
      this.socket.destroy();
      this.finish(undefined);
    }, ms);
  }

  /** Takes frames while the sink wants more; pauses or resumes the socket accordingly. */
  drain(): void {
    if (this.done) return;
    // A frame handed on can wake the sink synchronously, which calls back here: loop instead.
    if (this.draining) {
      this.again = true;
      return;
    }
    this.draining = true;
    try {
      do {
        this.again = false;
        while (this.sink.wantsMore && !this.done) {
          const frame = this.framer.next();
          if (frame === undefined) {
            if (this.socketClosed) this.finish(this.lastError);
            else if (this.socket.isPaused()) {
              this.socket.resume();
              this.lastProgress = performance.now();
            }
            break;
          }
          if (frame instanceof Error) {
            this.onBadFrame(frame);
            if (this.framer.broken) {
              this.socket.destroy();
              this.finish(undefined);
            }
          } else {
            this.onFrame(frame);
          }
        }
        if (!this.sink.wantsMore && !this.done && !this.socket.isPaused()) this.socket.pause();
      } while (this.again && !this.done);
    } finally {
      this.draining = false;
    }
  }

  /** Ends the connection now, without calling `onDone` (teardown). */
  destroy(): void {
    this.done = true;
    clearTimeout(this.idleTimer);
    this.socket.destroy();
  }

  private finish(error: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.idleTimer);
    if (!this.socket.destroyed) this.socket.destroy();
    this.onDone(error);
  }
}
