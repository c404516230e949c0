import net from 'node:net';
import type { Observable } from 'rxjs';
import { LimitError, RxDataError, messageOf } from '../../src/errors.js';
import { pushSource, type PushSink } from '../../src/pushSource.js';
import { liveData, refuseCheckpoint } from '../../src/state/refuse.js';
import { FramedConnection, backoff, decodeFrame, keepConnected, noteDrop, reportBad, reportBadFrame, type Reconnect, type RecordErrorOptions } from './common.js';
import { DEFAULT_MAX_FRAME_BYTES, createFramer, json, raw, type Decoder, type Framing } from './framing.js';

/** Settings shared by the TCP sources. */
export interface TcpFramingOptions<T> extends RecordErrorOptions {
  /** `'lines'` (default: newline-delimited, JSON unless `decode` says otherwise) or `'length-prefixed'` (uint32 BE length, raw bytes by default). */
  framing?: Framing;
  /** Turns a frame into a record; throwing makes a RecordError naming the peer. */
  decode?: Decoder<T>;
  /** Largest frame accepted, bytes (default 1 MiB): a longer line is discarded, a longer length-prefixed frame drops the connection. */
  maxFrameBytes?: number;
  /** Records held for the stages below before the socket is paused. Default 256. */
  highWaterMark?: number;
  /** The source's name in pipeline statistics. */
  name?: string;
}

export interface FromTcpOptions<T> extends TcpFramingOptions<T> {
  host?: string;
  port: number;
  /** Reconnect with exponential backoff and jitter when the peer goes away (default true). With `false`, a clean close completes and an error fails. */
  reconnect?: Reconnect;
  /**
   * Drop the connection (and reconnect) after this long without a good record while the
   * pipeline was taking records, ms: catches a half-open connection to a gateway that died
   * without closing it. Default none (a quiet gateway is not a dead one).
   */
  idleTimeoutMs?: number;
}

/** A record from one of many peers. */
export interface PeerRecord<T> {
  /** `address:port` of the peer that sent it. */
  readonly peer: string;
  readonly value: T;
}

const defaultDecoder = <T>(framing: Framing): Decoder<T> => (framing === 'lines' ? json : raw) as Decoder<T>;

/**
 * Reads records from a TCP server (a sensor gateway), reconnecting when it goes away.
 *
 * ```
 * gateway:   {"t":1}\n{"t":2}\n  ✕ (restart)      {"t":3}\n
 * fromTcp:   ----a-------b------ …backoff… connect ---c---
 * pipeline full?  socket.pause() → TCP window closes → the gateway's writes back up
 * ```
 *
 * Frames are lines (JSON by default) or uint32-BE-length-prefixed binary. While the stages below
 * are full the socket is paused, so TCP flow control reaches the sender. A malformed frame is a
 * RecordError naming `tcp host:port` (or counted with `onError: 'skip'`); an oversized one never
 * allocates beyond `maxFrameBytes`. A frame cut off when the peer closes is dropped and counted
(`extra.truncated`), never delivered. TCP is at-most-once across a reset: what the gateway had not
yet delivered is lost (docs/sockets.md). Statistics: `extra.connected`, `extra.reconnects`,
`extra.truncated`, `extra.lostBytes`.
 *
 * @example
 * ```ts
 * fromTcp<Reading>({ host: 'gateway.local', port: 7000 }).pipe(slidingWindow(32, { features }), batch(16), trainOn(model));
 * ```
 */
export function fromTcp<T = unknown>(options: FromTcpOptions<T>): Observable<T> {
  const { host = '127.0.0.1', port, framing = 'lines', maxFrameBytes = DEFAULT_MAX_FRAME_BYTES, onError = 'fail' } = options;
  const decode = options.decode ?? defaultDecoder<T>(framing);
  const retry = backoff(options.reconnect);
  const origin = `tcp ${host}:${port}`;
  createFramer(framing, maxFrameBytes, origin); // validates the options at call time
  return pushSource<T>((sink) => {
    refuseCheckpoint('fromTcp', options.name ?? 'fromTcp', liveData(origin), 'source');
    let connection: FramedConnection | undefined;
    sink.stats.extra.lostBytes = 0;
    const stopRetrying = keepConnected(sink, retry, origin, (attempt) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => attempt.opened());
      const current: FramedConnection = new FramedConnection(
        socket,
        createFramer(framing, maxFrameBytes, origin),
        sink,
        (frame) => {
          const r = decodeFrame(decode, frame, origin);
          if (r.ok) {
            attempt.healthy();
            current.touch();
            sink.next(r.value);
          } else reportBad(sink, onError, r.error);
        },
        (error) => reportBadFrame(sink, onError, error),
        (error) => {
          connection = undefined;
          attempt.closed(error);
        },
        {
          idleTimeoutMs: options.idleTimeoutMs,
          onIdle: () => noteDrop(sink, new LimitError(`no record for idleTimeoutMs (${options.idleTimeoutMs} ms); reconnecting`, origin)),
          onLost: (bytes) => (sink.stats.extra.lostBytes += bytes),
        },
      );
      connection = current;
    });
    sink.onWantMore(() => connection?.drain());
    return () => {
      stopRetrying();
      connection?.destroy();
      connection = undefined;
    };
  }, { highWaterMark: options.highWaterMark, overflow: 'pause', name: options.name ?? 'fromTcp' });
}

export interface ListenTcpOptions<T> extends TcpFramingOptions<T> {
  /** Port to listen on; 0 (default) picks a free one, given to `onListening`. */
  port?: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** Called once the server is bound, with its address (tests and fleets listening on port 0 need the port). */
  onListening?: (address: net.AddressInfo) => void;
  /** Connections accepted at once; more are refused (counted in `extra.refused`). Default 1024. */
  maxConnections?: number;
  /**
   * Drop a peer that delivers no good record for this long while the pipeline was taking records,
   * ms, so silent or trickling clients cannot hold every slot. Default 60 000; `Infinity` never.
   */
  idleTimeoutMs?: number;
}

/** Default {@link ListenTcpOptions.idleTimeoutMs}. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

/**
 * Accepts many sensor connections and merges their records, each tagged with its peer.
 *
 * ```
 * sensor 127.0.0.1:50001:  --a----b-------
 * sensor 127.0.0.1:50002:  ----x-----y----
 * listenTcp():             --A-X--B--Y----   ({ peer: '127.0.0.1:50001', value: a } …)
 * ```
 *
 * Every connection is paused while the stages below are full and resumed as they drain, so no
 * sensor can flood the pipeline. A peer's bad frame names that peer; an oversized
 * length-prefixed frame closes only that peer's connection (with `onError: 'skip'`). The source
 * never completes: unsubscribe to close the server and every connection. A peer that delivers no
 * good record for `idleTimeoutMs` (60 s; time the pipeline held it back excluded) is dropped, and
 * at most `maxConnections` (1024) peers are connected at once, so silent or trickling clients
 * cannot hold every slot. Statistics: `extra.peers` (connected now), `extra.connections`
 * (accepted in all), `extra.refused`, `extra.idleDropped`, `extra.truncated`, `extra.lostBytes`.
 *
 * @example
 * ```ts
 * listenTcp<Reading>({ port: 7000 }).pipe(map(({ peer, value }) => ({ ...value, sensor: peer })), slidingWindow(32, { key: (r) => r.sensor, features }));
 * ```
 */
export function listenTcp<T = unknown>(options: ListenTcpOptions<T> = {}): Observable<PeerRecord<T>> {
  const { host = '127.0.0.1', port = 0, framing = 'lines', maxFrameBytes = DEFAULT_MAX_FRAME_BYTES, onError = 'fail', maxConnections = 1024 } = options;
  const { idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS } = options;
  const decode = options.decode ?? defaultDecoder<T>(framing);
  createFramer(framing, maxFrameBytes, 'tcp');
  if (!(idleTimeoutMs > 0)) throw new RangeError(`listenTcp: idleTimeoutMs must be > 0, got ${idleTimeoutMs}`);
  if (!(Number.isInteger(maxConnections) && maxConnections >= 1)) throw new RangeError(`listenTcp: maxConnections must be an integer >= 1, got ${maxConnections}`);
  return pushSource<PeerRecord<T>>((sink: PushSink<PeerRecord<T>>) => {
    refuseCheckpoint('listenTcp', options.name ?? 'listenTcp', liveData(`tcp ${host}:${port} (listening)`), 'source');
    sink.stats.extra.peers = 0;
    sink.stats.extra.connections = 0;
    sink.stats.extra.refused = 0;
    sink.stats.extra.idleDropped = 0;
    sink.stats.extra.lostBytes = 0;
    const connections = new Set<FramedConnection>();
    const server = net.createServer((socket) => {
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      const origin = `tcp ${peer}`;
      sink.stats.extra.connections++;
      sink.stats.extra.peers++;
      const connection: FramedConnection = new FramedConnection(
        socket,
        createFramer(framing, maxFrameBytes, origin),
        sink,
        (frame) => {
          const r = decodeFrame(decode, frame, origin);
          if (r.ok) {
            connection.touch();
            sink.next({ peer, value: r.value });
          } else reportBad(sink, onError, r.error);
        },
        (error) => reportBadFrame(sink, onError, error),
        () => {
          connections.delete(connection);
          sink.stats.extra.peers--;
        },
        {
          idleTimeoutMs,
          onIdle: () => {
            sink.stats.extra.idleDropped++;
            noteDrop(sink, new LimitError(`no record for idleTimeoutMs (${idleTimeoutMs} ms); connection dropped`, origin));
          },
          onLost: (bytes) => (sink.stats.extra.lostBytes += bytes),
        },
      );
      connections.add(connection);
      // A new peer arriving while the pipeline is full waits like the others.
      if (!sink.wantsMore) socket.pause();
    });
    server.maxConnections = maxConnections;
    server.on('drop', () => sink.stats.extra.refused++);
    server.on('error', (error) => sink.error(new RxDataError(`server failed: ${messageOf(error)}`, `tcp ${host}:${port}`, { cause: error })));
    server.listen(port, host, () => options.onListening?.(server.address() as net.AddressInfo));
    sink.onWantMore(() => {
      for (const connection of [...connections]) connection.drain();
    });
    return () => {
      server.close();
      for (const connection of connections) connection.destroy();
      connections.clear();
    };
  }, { highWaterMark: options.highWaterMark, overflow: 'pause', name: options.name ?? 'listenTcp' });
}
