/** Node streams interop: an Observable as an object-mode `Readable`, and a `Readable` as a source. */
import { Readable } from 'node:stream';
import type { Observable } from 'rxjs';
import { pushSource } from '../pushSource.js';
import { PullIterator } from './asyncIterable.js';

export interface ToReadableOptions {
  /** Elements the stream buffers before it stops reading (its `readableHighWaterMark`). Default 16. */
  highWaterMark?: number;
}

/**
 * An object-mode `Readable` over `source$`: the stream asks for elements (`read()`) only while its
 * buffer is under `highWaterMark`, and a source of ours is pulled one element per request, so a
 * slow writable at the end of `pipeline(...)` slows the source down.
 *
 * ```
 * source$ ──▶ Readable (≤ highWaterMark buffered) ──▶ pipeline ──▶ slow Writable
 * ```
 *
 * In flight: the stream's `highWaterMark` elements plus one being read. Destroying the stream
 * (or a failing pipeline) unsubscribes the source; an error from the source destroys the stream
 * with that error. Object mode cannot carry `null`: a source that emits `null` fails the stream.
 *
 * @example
 * ```ts
 * await pipeline(toReadable(rows$.pipe(map(JSON.stringify))), toLines, createWriteStream(path));
 * ```
 */
export function toReadable<T>(source$: Observable<T>, options: ToReadableOptions = {}): Readable {
  const { highWaterMark = 16 } = options;
  if (!(Number.isInteger(highWaterMark) && highWaterMark >= 1)) throw new RangeError(`toReadable: highWaterMark must be an integer >= 1, got ${highWaterMark}`);
  // Node's own iterator-to-stream bridge: it calls next() once per read() and return() on destroy.
  return Readable.from(new PullIterator(source$, 0), { objectMode: true, highWaterMark });
}

/** Streams a subscription has read: a stream can be read once. */
const taken = new WeakSet<Readable>();

export interface FromReadableOptions {
  /** Elements (chunks) held for the stages below before the stream is paused. Default 256. */
  highWaterMark?: number;
  /** Destroy the stream when the subscription ends early (unsubscribe or a downstream error). Default true. */
  destroyOnUnsubscribe?: boolean;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * A source over a Node `Readable` (object mode or bytes: each chunk is an element): the stream is
 * paused while the stages below are full and resumed when they drain (a `pushSource`), so a file
 * or socket stream is read only as fast as the pipeline takes it.
 *
 * ```
 * stream:  'data' 'data' … pause() ……… resume() 'data' … 'end'
 * output:  -c0---c1----------------------c2--------|
 * ```
 *
 * Pass a factory (`() => createReadStream(path)`) for a cold, re-subscribable source (epochs); a
 * stream object can be read by one subscription only. In flight: `highWaterMark` chunks plus the
 * stream's own buffer. A stream error fails the pipeline; ending early destroys the stream.
 *
 * @example
 * ```ts
 * fromReadable(() => process.stdin.pipe(split2())).pipe(map(JSON.parse), batch(32));
 * ```
 */
export function fromReadable<T = unknown>(stream: Readable | (() => Readable), options: FromReadableOptions = {}): Observable<T> {
  const { destroyOnUnsubscribe = true, name = 'fromReadable' } = options;
  return pushSource<T>(
    (sink) => {
      const readable = typeof stream === 'function' ? stream() : stream;
      if (taken.has(readable) || readable.destroyed || readable.readableEnded) {
        throw new Error(`${name}: this stream was already read (or destroyed); pass a factory (() => stream) to read afresh on each subscription`);
      }
      taken.add(readable);
      let ended = false;
      const onData = (chunk: T): void => {
        sink.next(chunk);
        if (!sink.wantsMore) readable.pause();
      };
      const onEnd = (): void => {
        ended = true;
        sink.complete();
      };
      const onError = (error: Error): void => {
        ended = true;
        sink.error(error);
      };
      sink.onWantMore(() => readable.resume());
      readable.on('data', onData);
      readable.once('end', onEnd);
      readable.once('error', onError);
      return () => {
        readable.off('data', onData);
        readable.off('end', onEnd);
        readable.off('error', onError);
        // A late error (after teardown) must not go unhandled and crash the process.
        readable.on('error', () => undefined);
        if (!ended && destroyOnUnsubscribe) readable.destroy();
      };
    },
    { highWaterMark: options.highWaterMark ?? 256, overflow: 'pause', name },
  );
}
