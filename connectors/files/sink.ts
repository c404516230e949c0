/**
 * Internals of the file writers: an output file written through Node streams (gzip optional),
 * to a `.partial` name renamed into place only when the pass completes.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { dirname } from 'node:path';
import { createGzip, type Gzip } from 'node:zlib';
import { Observable, type OperatorFunction } from 'rxjs';
import { consume } from '../../operators/consume.js';
import type { PipelineStats } from '../../src/stats.js';
import { ElementError, WriteError, messageOf } from '../../src/errors.js';

/** Bytes a writer buffers before its writes wait for the disk. */
const WRITE_BUFFER = 1 << 20;

/** A write failure as a {@link WriteError} naming the file (the system error is its cause). */
export function writeError(error: unknown, path: string): WriteError {
  if (error instanceof WriteError) return error;
  return new WriteError(`cannot write file: ${messageOf(error)}`, path, { cause: error });
}

/**
 * One output file: bytes written in order; nothing appears at `path` until {@link finish}.
 * A failure of the file (it cannot be opened, the disk is full) fails the next write, or the
 * write or finish waiting on it, with a {@link WriteError} naming `path`: a writer waiting for
 * a `drain` that can no longer come (gzip unpipes from a failed file) is woken by the failure.
 */
export class FileSink {
  private readonly out: WriteStream;
  private readonly gzip: Gzip | undefined;
  private readonly partial: string;
  private done = false;
  /** The first failure of the file or the gzip stream. */
  private failure: WriteError | undefined;
  /** Rejects with that failure: raced against every wait on the streams. */
  private readonly failed: Promise<never>;
  records = 0;
  bytes = 0;

  constructor(
    readonly path: string,
    gzip: boolean,
  ) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (error) {
      throw writeError(error, path);
    }
    this.partial = `${path}.partial`;
    let reject: (error: WriteError) => void = () => undefined;
    this.failed = new Promise<never>((_, r) => (reject = r));
    // Observed by every wait; this keeps it from being an unhandled rejection when none waits.
    this.failed.catch(() => undefined);
    const fail = (error: unknown): void => {
      if (this.failure) return;
      this.failure = writeError(error, path);
      reject(this.failure);
    };
    this.out = createWriteStream(this.partial, { highWaterMark: WRITE_BUFFER });
    this.out.on('error', fail);
    if (gzip) {
      this.gzip = createGzip({ chunkSize: 64 * 1024 });
      this.gzip.on('error', fail);
      this.gzip.pipe(this.out);
    }
  }

  /** Writes `data`; resolves at once while the buffer has room, else when it drains (the disk's pace). */
  async write(data: Uint8Array, signal?: AbortSignal): Promise<void> {
    if (this.failure) throw this.failure;
    const head = this.gzip ?? this.out;
    this.records++;
    this.bytes += data.length;
    if (head.write(data)) return;
    const drained = new AbortController();
    const stop = (): void => drained.abort();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      await Promise.race([once(head, 'drain', { signal: drained.signal }), this.failed]);
    } finally {
      signal?.removeEventListener('abort', stop);
      // Removes the drain listener when the failure (or the caller's abort) won the race.
      drained.abort();
    }
    if (signal?.aborted) throw signal.reason;
  }

  /** Flushes, closes the file and renames it into place. */
  async finish(): Promise<void> {
    if (this.done) return;
    if (this.failure) throw this.failure;
    this.done = true;
    (this.gzip ?? this.out).end();
    await Promise.race([finished(this.out), this.failed]).catch((error: unknown) => {
      throw writeError(this.failure ?? error, this.path);
    });
    try {
      renameSync(this.partial, this.path);
    } catch (error) {
      throw writeError(error, this.path);
    }
  }

  /** Closes the file (after any write in flight) and removes the partial output. */
  abort(): void {
    if (this.done && this.out.closed) {
      try {
        rmSync(this.partial, { force: true });
      } catch {
        // Not a file we made.
      }
      return;
    }
    this.done = true;
    this.gzip?.destroy();
    // destroy() closes the descriptor once a pending write returns, never under it.
    this.out.destroy();
    const remove = (): void => {
      try {
        rmSync(this.partial, { force: true });
      } catch {
        // Not a file we made (a directory in the way): leave it.
      }
    };
    if (this.out.closed) remove();
    else this.out.once('close', remove);
  }
}

/** What a writer emits after each record. */
export interface WriteProgress {
  /** Records written so far (all shards). */
  readonly records: number;
  /** Bytes of record data written so far (before framing and compression). */
  readonly bytes: number;
  /** The file this record went to. */
  readonly path: string;
}

export interface WriterOptions {
  /** Pipeline statistics for the stages above (the writer is the demand end). */
  readonly stats?: PipelineStats;
  /** The stage's name in pipeline statistics. */
  readonly name?: string;
}

/**
 * A writer operator: a `consume` that encodes each element and appends it to one of `sinks`
 * (round robin), so the pipeline runs at the disk's pace; completes once every file is closed
 * and renamed into place, and removes the partial files on error or unsubscribe.
 */
export function writerOperator<T>(
  open: () => FileSink[],
  encode: (value: T) => Uint8Array,
  options: WriterOptions & { readonly name: string },
): OperatorFunction<T, WriteProgress> {
  return (source) =>
    new Observable<WriteProgress>((subscriber) => {
      let sinks: FileSink[];
      try {
        sinks = open();
      } catch (error) {
        subscriber.error(error);
        return;
      }
      let records = 0;
      let bytes = 0;
      let finished = false;
      const subscription = source
        .pipe(
          consume(
            async (value: T, index: number, signal: AbortSignal): Promise<WriteProgress> => {
              const data = encode(value);
              const sink = sinks[index % sinks.length];
              await sink.write(data, signal);
              records++;
              bytes += data.length;
              return { records, bytes, path: sink.path };
            },
            { stats: options.stats, name: options.name },
          ),
        )
        .subscribe({
          next: (progress) => subscriber.next(progress),
          error(error) {
            finished = true;
            for (const sink of sinks) sink.abort();
            // consume wraps what its callback throws as the element's failure; a file failure is the writer's own.
            subscriber.error(error instanceof ElementError && error.cause instanceof WriteError ? error.cause : error);
          },
          complete() {
            finished = true;
            Promise.all(sinks.map((s) => s.finish())).then(
              () => subscriber.complete(),
              (error: unknown) => {
                for (const sink of sinks) sink.abort();
                subscriber.error(error);
              },
            );
          },
        });
      return () => {
        subscription.unsubscribe();
        if (!finished) for (const sink of sinks) sink.abort();
      };
    });
}
