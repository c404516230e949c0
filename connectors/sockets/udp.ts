import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { Observable } from 'rxjs';
import { RxDataError, messageOf } from '../../src/errors.js';
import { pushSource } from '../../src/pushSource.js';
import { liveData, refuseCheckpoint } from '../../src/state/refuse.js';
import { decodeFrame, reportBad, type RecordErrorOptions } from './common.js';
import { json, type Decoder } from './framing.js';
import type { PeerRecord } from './tcp.js';

export interface FromUdpOptions<T> extends RecordErrorOptions {
  /** Port to bind; 0 (default) picks a free one, given to `onListening`. */
  port?: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
  /** `'udp4'` (default) or `'udp6'`. */
  type?: 'udp4' | 'udp6';
  /** Turns a datagram into a record (default: UTF-8 JSON); throwing makes a RecordError naming the peer. */
  decode?: Decoder<T>;
  /** Records held for the stages below; past it the overflow policy applies. Default 256. */
  highWaterMark?: number;
  /** UDP cannot be paused: drop the oldest held record (default), drop the new one, or fail. Drops are counted in `stats.dropped`. */
  overflow?: 'drop-oldest' | 'drop-newest' | 'error';
  /** The kernel's receive buffer, bytes (`SO_RCVBUF`), for bursts while the event loop is busy. */
  receiveBufferBytes?: number;
  /** Called once the socket is bound, with its address. */
  onListening?: (address: AddressInfo) => void;
  /** The source's name in pipeline statistics. */
  name?: string;
}

/**
 * Receives datagrams, one record each, tagged with the sender.
 *
 * ```
 * datagrams:   -a-b-c-d-e-f-g-     (UDP: the sender never waits)
 * buffer(4):   [c d e f] full → overflow 'drop-oldest' drops c, counted in stats.dropped
 * fromUdp():   -A---B-----D---G-  ({ peer: '127.0.0.1:41234', value })
 * ```
 *
 * UDP has no flow control, so a full pipeline cannot slow the sender: a bounded buffer with an
 * overflow policy keeps the in-flight bound, and every drop is counted (datagrams the kernel
 * drops before we see them are not). A malformed datagram is a RecordError naming
 * `udp address:port`, or skipped and counted with `onError: 'skip'`. Never completes.
 *
 * @example
 * ```ts
 * fromUdp<Reading>({ port: 9000, highWaterMark: 1024, overflow: 'drop-oldest' }).pipe(map((r) => r.value), consume(store));
 * ```
 */
export function fromUdp<T = unknown>(options: FromUdpOptions<T> = {}): Observable<PeerRecord<T>> {
  const { host = '127.0.0.1', port = 0, type = 'udp4', onError = 'fail', overflow = 'drop-oldest' } = options;
  const decode = options.decode ?? (json as Decoder<T>);
  if ((overflow as string) === 'pause') throw new TypeError("fromUdp: UDP cannot be paused; overflow must be 'drop-oldest', 'drop-newest' or 'error'");
  return pushSource<PeerRecord<T>>((sink) => {
    refuseCheckpoint('fromUdp', options.name ?? 'fromUdp', liveData(`udp ${host}:${port}`), 'source');
    const socket = dgram.createSocket({ type, recvBufferSize: options.receiveBufferBytes });
    socket.on('message', (message, rinfo) => {
      const peer = `${rinfo.address}:${rinfo.port}`;
      const r = decodeFrame(decode, message, `udp ${peer}`);
      if (r.ok) sink.next({ peer, value: r.value });
      else reportBad(sink, onError, r.error);
    });
    socket.on('error', (error) => sink.error(new RxDataError(`socket failed: ${messageOf(error)}`, `udp ${host}:${port}`, { cause: error })));
    socket.bind(port, host, () => options.onListening?.(socket.address()));
    return () => {
      try {
        socket.close();
      } catch {
        // Closing a socket that failed to bind throws ERR_SOCKET_DGRAM_NOT_RUNNING: nothing to close.
      }
    };
  }, { highWaterMark: options.highWaterMark, overflow, name: options.name ?? 'fromUdp' });
}
