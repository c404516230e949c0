/**
 * Scenario 7's throughput head for `fromWorkers`: the one-thread cases' pipeline (read → shuffle →
 * batch → parse the batch) on each worker's shard of the files, so that every core reads and
 * parses, as tf.data's thread pool does. Batches leave as whole typed arrays (moved, not copied).
 * `pulls` (shared memory) counts the rows the sources hand out, for the in-flight bound.
 */
import { bufferCount, map, type Observable } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { shuffle } from '../../operators/shuffle.js';
import { fromFiles } from '../../connectors/files/fromFiles.js';
import { parseExampleBatch } from '../../connectors/files/exampleBatch.js';
import type { NDArray } from '../../src/types.js';
import { definePipelineHead } from '../../src/workers/head.js';

export type FilesBatchHeadArgs = {
  readonly format: 'tfrecord' | 'csv';
  readonly pattern: string;
  readonly batch: number;
  /** Each worker's shuffle window: the one-thread window ÷ workers keeps the rows held the same. */
  readonly window: number;
  readonly features: number;
  readonly pulls: Int32Array;
};
/** A batch and its row count (the count travels, so the main side reads no field names). */
export type CountedBatch = { readonly n: number; readonly batch: Readonly<Record<string, NDArray>> };

export default definePipelineHead((shard, args: FilesBatchHeadArgs): Observable<CountedBatch> => {
  const pulled = <T>(r: T): T => (Atomics.add(args.pulls, 0, 1), r);
  if (args.format === 'tfrecord') {
    const parse = parseExampleBatch({ x: { type: 'float', shape: [args.features] }, label: { type: 'int64', shape: [] } });
    return fromFiles(args.pattern, { format: 'tfrecord', cycleLength: 4, shard }).pipe(
      map(pulled),
      shuffle(args.window),
      bufferCount(args.batch),
      map((records) => {
        const b = parse(records);
        return { n: b.label.shape[0], batch: b };
      }),
    );
  }
  return fromFiles(args.pattern, { format: 'csv', labels: ['label'], columns: { label: { type: 'int' } }, cycleLength: 4, shard }).pipe(
    map(pulled),
    shuffle(args.window),
    batch(args.batch),
    map((b) => ({ n: b.ys.shape[0], batch: b })),
  );
});
