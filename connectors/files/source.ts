/**
 * Internals shared by the file readers: a byte stream per file (gzip by extension or option), and
 * a pull source that lets every file of one `fromFiles` call report into one statistics stage.
 */
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { Observable } from 'rxjs';
import { RecordError, messageOf } from '../../src/errors.js';
import { produce, produceComplete, runInScope, scoped, trampoline } from '../../src/flow.js';
import { nextTurn, sliceSpent } from '../../src/turn.js';
import { stageFor, type StageStats } from '../../src/stats.js';
import { claimCursor, type InnerCursor } from '../../src/state/sources.js';

/** How a file is compressed: `'auto'` (default) means gzip when the name ends in `.gz`. */
export type Compression = 'auto' | 'none' | 'gzip';

/** Bytes read per chunk from disk. Small enough that a paused reader holds little. */
export const CHUNK_BYTES = 64 * 1024;

/** An open file as a stream of (decompressed) bytes; `bytesRead` counts bytes taken from disk. */
export interface ByteSource {
  readonly stream: Readable;
  bytesRead(): number;
  /** Destroys the streams (and so closes the file descriptor). Idempotent. */
  close(): void;
  /**
   * A read or decompression failure as a RecordError naming the file and where it was: for gzip
   * the compressed byte offset, and the line the reader had reached when it knows it.
   */
  failure(error: unknown, line?: number): RecordError;
}

export function isGzip(path: string, compression: Compression = 'auto'): boolean {
  return compression === 'gzip' || (compression === 'auto' && path.endsWith('.gz'));
}

/**
 * Opens `path` for streaming. Node's streams read ahead at most `highWaterMark` bytes, and the
 * async iterator of a stream pulls only when asked, so a paused pipeline stops the reads.
 */
export function openBytes(path: string, compression: Compression = 'auto', highWaterMark = CHUNK_BYTES, start = 0): ByteSource {
  // `start`: a restored position (uncompressed files only): the prefix is never read.
  const file = createReadStream(path, start > 0 ? { highWaterMark, start } : { highWaterMark });
  if (!isGzip(path, compression)) {
    return { stream: file, bytesRead: () => file.bytesRead, close: () => file.destroy(), failure: (error) => ioError(error, path) };
  }
  const gunzip = createGunzip({ chunkSize: highWaterMark });
  // A read error (ENOENT) must reach whoever iterates the gunzip stream.
  file.on('error', (error) => gunzip.destroy(error));
  gunzip.on('error', () => file.destroy());
  file.pipe(gunzip);
  return {
    stream: gunzip,
    bytesRead: () => file.bytesRead,
    close: () => {
      file.unpipe(gunzip);
      file.destroy();
      gunzip.destroy();
    },
    // bytesWritten: compressed bytes the inflater had consumed when it failed; the bad data lies
    // in the input after it (within the read chunk it was working on).
    failure: (error, line) => {
      if (!isZlibError(error)) return ioError(error, path);
      return ioError(error, `${path} compressed byte ${gunzip.bytesWritten}${line === undefined ? '' : `, line ${line}`}`);
    },
  };
}

/**
 * The bytes of an uncompressed file in `chunkBytes` reads through two buffers that are reused:
 * while the consumer works on one chunk the next is read into the other (one chunk of read-ahead,
 * as a stream's). So a yielded chunk is valid only until the next `next()`: for consumers that
 * copy what they keep (the numeric CSV parser). No buffer per read, no stream machinery: measured
 * on a 63 MB CSV, a quarter of `createReadStream`'s CPU time at 64 KiB. `onRead(bytes)` counts
 * what came from disk. The handle closes when the file ends, fails, or the consumer stops.
 */
export async function* reusedChunks(path: string, onRead: (bytes: number) => void, chunkBytes = CHUNK_BYTES, start = 0): AsyncGenerator<Uint8Array> {
  const handle: FileHandle = await open(path, 'r');
  const buffers = [new Uint8Array(chunkBytes), new Uint8Array(chunkBytes)];
  let turn = 0;
  /** The next read's file offset (`start`: a restored position). */
  let position = start;
  const read = (buffer: Uint8Array): Promise<number> =>
    handle.read(buffer, 0, chunkBytes, position).then(({ bytesRead }) => {
      position += bytesRead;
      return bytesRead;
    });
  let pending: Promise<number> | undefined = read(buffers[0]);
  try {
    for (;;) {
      const bytes = await pending;
      pending = undefined;
      if (bytes === 0) return;
      onRead(bytes);
      const chunk = buffers[turn];
      turn ^= 1;
      // Read ahead into the other buffer (the consumer is done with it: it asked for this chunk).
      pending = read(buffers[turn]);
      yield bytes === chunkBytes ? chunk : chunk.subarray(0, bytes);
    }
  } finally {
    // A read still in flight finishes before the handle closes; its error no longer matters.
    await pending?.catch(() => undefined);
    await handle.close();
  }
}

const isZlibError = (error: unknown): boolean => error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('Z_');

/** An I/O failure while reading (`where`: the file, and a position when known), as a RecordError (so `onError: 'skip'` can count it). */
export function ioError(error: unknown, where: string): RecordError {
  if (error instanceof RecordError) return error;
  return new RecordError(isZlibError(error) ? `corrupt gzip data: ${messageOf(error)}` : `cannot read file: ${messageOf(error)}`, where, { cause: error });
}

/**
 * A cold Observable over `factory(stage)`, an async iterator of batches of elements: it emits one
 * element at a time, only while the stages below are ready (like `fromIterable`), keeps the rest
 * of a batch until demand returns, asks for the next batch only when the last is emitted, and
 * closes the iterator on unsubscribe. Batches (one per read chunk) make the hand-off one await
 * per chunk instead of per record. Every subscription made from the same `key` reports into the
 * same statistics stage, so the files of one `fromFiles` call show up as one source.
 */
export function pullBatches<T>(key: object, name: string, factory: (stage: StageStats, cursor: InnerCursor | undefined) => AsyncIterator<T[]>): Observable<T> {
  return scoped<T>((subscriber, scope) => {
    const stage = stageFor(scope.stats, key, name, 'source');
    const { demand } = scope;
    // Inside a resumable interleave: the reader fills `cursor.ends`/`lines` per batch, and the
    // position after each element is published before it is handed on.
    const cursor = claimCursor();
    let iterator: AsyncIterator<T[]>;
    try {
      iterator = factory(stage, cursor);
    } catch (error) {
      subscriber.error(error);
      return;
    }
    /** Cancels a wait for demand. */
    let cancelWait: (() => void) | undefined;
    /** The iterator ended by itself: no `return()` needed. */
    let finished = false;
    /** A loop is running (it may be awaiting `next()`): a wake-up then has nothing to do. */
    let pulling = false;
    /** The batch being emitted, and the index of its next element. */
    let batch: T[] = [];
    let head = 0;
    let blockedSince = 0;
    const pull = async (): Promise<void> => {
      cancelWait = undefined;
      if (blockedSince) stage.blockedMs += performance.now() - blockedSince;
      blockedSince = 0;
      if (pulling) return;
      pulling = true;
      try {
        while (!subscriber.closed) {
          if (!demand.ready) {
            blockedSince = performance.now();
            cancelWait = demand.whenReady(resume);
            return;
          }
          if (sliceSpent()) {
            await nextTurn();
            continue;
          }
          if (head < batch.length) {
            const value = batch[head];
            if (cursor) {
              cursor.offset = cursor.ends[head];
              cursor.line = cursor.lines[head];
            }
            batch[head++] = undefined as T;
            stage.out++;
            stage.buffered(batch.length - head);
            produce(scope, name, subscriber, value);
            continue;
          }
          let result: IteratorResult<T[]>;
          try {
            result = await iterator.next();
          } catch (error) {
            finished = true;
            subscriber.error(error);
            return;
          }
          if (subscriber.closed) return;
          if (result.done) {
            finished = true;
            produceComplete(scope, subscriber);
            return;
          }
          batch = result.value;
          head = 0;
          stage.in += batch.length;
        }
      } finally {
        pulling = false;
      }
    };
    // Resumed loops run in the scope captured at subscription, whoever opened the gate.
    const resume = (): void => runInScope(scope, () => void pull());
    trampoline(resume);
    return () => {
      cancelWait?.();
      batch = [];
      if (!finished) void Promise.resolve(iterator.return?.()).catch(() => undefined);
    };
  });
}
