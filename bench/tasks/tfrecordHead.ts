/**
 * Scenario 7's pipeline head for `fromWorkers`: the TFRecord training feed (read → shuffle →
 * batch → parse the batch → one-hot labels) on a worker thread, the same pipeline the one-thread
 * case runs in the main thread. Batches leave as `{ xs, ys }` of whole Float32Arrays (moved, not
 * copied). `pulls` (shared memory) counts the records the source hands out.
 */
import { bufferCount, map } from 'rxjs';
import { shuffle } from '../../operators/shuffle.js';
import { fromFiles } from '../../connectors/files/fromFiles.js';
import { parseExampleBatch } from '../../connectors/files/exampleBatch.js';
import type { NDArray } from '../../src/types.js';
import { definePipelineHead } from '../../src/workers/head.js';

export type TFRecordHeadArgs = { readonly pattern: string; readonly batch: number; readonly window: number; readonly features: number; readonly classes: number; readonly pulls: Int32Array };
export type XY = { xs: NDArray; ys: NDArray };

export default definePipelineHead((shard, args: TFRecordHeadArgs) => {
  const parse = parseExampleBatch({ x: { type: 'float', shape: [args.features] }, label: { type: 'int64', shape: [] } });
  const toXY = (b: ReturnType<typeof parse>): XY => {
    const n = b.label.shape[0];
    const ys = new Float32Array(n * args.classes);
    for (let i = 0; i < n; i++) ys[i * args.classes + Number(b.label.data[i])] = 1;
    return { xs: b.x, ys: { data: ys, shape: [n, args.classes] } };
  };
  return fromFiles(args.pattern, { format: 'tfrecord', cycleLength: 4, shard }).pipe(
    map((r) => (Atomics.add(args.pulls, 0, 1), r)),
    shuffle(args.window),
    bufferCount(args.batch),
    map((records) => toXY(parse(records))),
  );
});
