import type { Observable } from 'rxjs';
import WebSocket from 'ws';
import { LimitError, RxDataError } from '../../src/errors.js';
import { pushSource } from '../../src/pushSource.js';
import { liveData, refuseCheckpoint } from '../../src/state/refuse.js';
import { redactUrl, safeCause, urlSecrets } from '../../src/errors.js';
import { backoff, decodeFrame, keepConnected, reportBad, type Reconnect, type RecordErrorOptions } from './common.js';
import { DEFAULT_MAX_FRAME_BYTES, json, type Decoder } from './framing.js';

export interface FromWebSocketOptions<T> extends RecordErrorOptions {
  /** Turns a message into a record (default: UTF-8 JSON); throwing makes a RecordError naming the URL. */
  decode?: Decoder<T>;
  /** Reconnect with exponential backoff and jitter (default true). With `false`, a close completes and an error fails. */
  reconnect?: Reconnect;
  /** Largest message accepted, bytes (default 1 MiB); `ws` refuses a longer one and closes the connection. */
  maxFrameBytes?: number;
  /** Messages held for the stages below before the socket is paused. Default 256. */
  highWaterMark?: number;
  /** Subprotocols to offer. */
  protocols?: string | string[];
  /** Extra request headers (authorization…). */
  headers?: Record<string, string>;
  /** The source's name in pipeline statistics. */
  name?: string;
}

/**
 * Reads messages from a WebSocket server (`ws`), one record each, reconnecting when it goes away.
 *
 * ```
 * server:          -a-b-c-✕          (restart)     -d-e-
 * fromWebSocket:   -a-b-c--- …backoff… reconnect ---d-e-
 * pipeline full?   ws.pause() → the TCP socket stops reading → the server's bufferedAmount grows
 * ```
 *
 * While the stages below are full the connection is paused (`ws.pause()` stops reading the
 * underlying socket), so TCP flow control reaches the server. A message over `maxFrameBytes` is
 * refused by `ws` (close code 1009) and reported as a LimitError; a malformed one is a
 * RecordError naming `ws <url>`; both are counted instead with `onError: 'skip'`.
 * Statistics: `extra.connected`, `extra.reconnects`.
 *
 * @example
 * ```ts
 * fromWebSocket<Reading>('ws://gateway.local:8080/stream').pipe(slidingWindow(64, { features }), batch(8), trainOn(model));
 * ```
 */
export function fromWebSocket<T = unknown>(url: string, options: FromWebSocketOptions<T> = {}): Observable<T> {
  const { onError = 'fail', maxFrameBytes = DEFAULT_MAX_FRAME_BYTES } = options;
  const decode = options.decode ?? (json as Decoder<T>);
  const retry = backoff(options.reconnect);
  // Credentials in the URL (user:password, ?token=) never reach an error's origin or cause.
  const origin = `ws ${redactUrl(url)}`;
  const secrets = urlSecrets(url);
  return pushSource<T>((sink) => {
    refuseCheckpoint('fromWebSocket', options.name ?? 'fromWebSocket', liveData(origin), 'source');
    let socket: WebSocket | undefined;
    const stopRetrying = keepConnected(sink, retry, origin, (attempt) => {
      let ws: WebSocket;
      try {
        ws = new WebSocket(url, options.protocols, { maxPayload: maxFrameBytes, headers: options.headers });
      } catch (error) {
        // A malformed URL or option: no retry will fix it.
        sink.error(new RxDataError('cannot connect', origin, { cause: safeCause(error, secrets) }));
        return;
      }
      socket = ws;
      let lastError: Error | undefined;
      ws.on('open', () => attempt.opened());
      ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
        if (sink.signal.aborted) return;
        const frame = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
        const r = decodeFrame(decode, frame, origin);
        if (r.ok) {
          attempt.healthy();
          sink.next(r.value);
        } else reportBad(sink, onError, r.error);
        // `ws` may still emit what it already parsed after pause(): pushSource keeps those.
        if (!sink.wantsMore && !ws.isPaused) ws.pause();
      });
      ws.on('error', (error: Error & { code?: string }) => {
        lastError = error;
        if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          reportBad(sink, onError, new LimitError(`message longer than maxFrameBytes (${maxFrameBytes} bytes); connection dropped`, origin));
          lastError = undefined;
        }
      });
      ws.on('close', () => {
        if (socket === ws) socket = undefined;
        attempt.closed(lastError && safeCause(lastError, secrets));
      });
    });
    sink.onWantMore(() => {
      if (socket?.isPaused) socket.resume();
    });
    return () => {
      stopRetrying();
      // terminate(), not close(): close() waits up to 30 s for the server's close frame on a timer.
      socket?.terminate();
      socket = undefined;
    };
  }, { highWaterMark: options.highWaterMark, overflow: 'pause', name: options.name ?? 'fromWebSocket' });
}
