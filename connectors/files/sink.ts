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

/** Bytes a writer buffers before its writes wait for the disk. */
const WRITE_BUFFER = 1 << 20;

/** One output file: bytes written in order; nothing appears at `path` until {@link finish}. */
export class FileSink {
  private readonly out: WriteStream;
  private readonly gzip: Gzip | undefined;
  private readonly partial: string;
  private done = false;
  records = 0;
  bytes = 0;

  constructor(
    readonly path: string,
    gzip: boolean,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.partial = `${path}.partial`;
    this.out = createWriteStream(this.partial, { highWaterMark: WRITE_BUFFER });
    // Errors surface through the next write or finish; this keeps them from being unhandled.
    this.out.on('error', () => undefined);
    if (gzip) {
      this.gzip = createGzip({ chunkSize: 64 * 1024 });
      this.gzip.on('error', () => undefined);
      this.gzip.pipe(this.out);
    }
  }

  /** Writes `data`; resolves at once while the buffer has room, else when it drains (the disk's pace). */
  async write(data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const head = this.gzip ?? this.out;
    if (this.out.errored) throw this.out.errored;
    this.records++;
    this.bytes += data.length;
    if (!head.write(data)) await once(head, 'drain', { signal });
  }

  /** Flushes, closes the file and renames it into place. */
  async finish(): Promise<void> {
    if (this.done) return;
    this.done = true;
    (this.gzip ?? this.out).end();
    await finished(this.out);
    renameSync(this.partial, this.path);
  }

  /** Closes the file (after any write in flight) and removes the partial output. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.gzip?.destroy();
    // destroy() closes the descriptor once a pending write returns, never under it.
    this.out.destroy();
    const remove = (): void => rmSync(this.partial, { force: true });
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
            subscriber.error(error);
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
