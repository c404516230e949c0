/**
 * Scenario 4's pipeline head for `fromWorkers`: the whole input pipeline of the training feed
 * (lines → shuffle → batch → parse the batch) on a worker thread. Each batch leaves as two
 * Float32Arrays of its own (`xs` [n, 64], `ys` [n, 10] one-hot), whole buffers, so they move to
 * the main thread without a copy. `pulls` (shared memory) counts the lines the source hands out.
 */
import { readFileSync } from 'node:fs';
import { map } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { shuffle } from '../../operators/shuffle.js';
import { fromIterable } from '../../src/fromIterable.js';
import type { NDArray } from '../../src/types.js';
import { definePipelineHead } from '../../src/workers/head.js';

const FEATURES = 64;
const CLASSES = 10;

export type OptdigitsHeadArgs = { readonly path: string; readonly batch: number; readonly window: number; readonly seed: number; readonly pulls: Int32Array };
export type XYBatch = { xs: NDArray; ys: NDArray };

/** A batch of lines → features scaled to [0, 1] and one-hot labels, each in a buffer of its own. */
function parse(lines: readonly string[]): XYBatch {
  const n = lines.length;
  const xs = new Float32Array(n * FEATURES);
  const ys = new Float32Array(n * CLASSES);
  for (let r = 0; r < n; r++) {
    const line = lines[r];
    let start = 0;
    for (let i = 0; i < FEATURES; i++) {
      const end = line.indexOf(',', start);
      xs[r * FEATURES + i] = Number(line.slice(start, end)) / 16;
      start = end + 1;
    }
    ys[r * CLASSES + Number(line.slice(start))] = 1;
  }
  return { xs: { data: xs, shape: [n, FEATURES] }, ys: { data: ys, shape: [n, CLASSES] } };
}

export default definePipelineHead((shard, args: OptdigitsHeadArgs) => {
  // This worker's share of the rows (all of them with one worker), read once per thread.
  const lines = readFileSync(args.path, 'utf8')
    .split('\n')
    .slice(1)
    .filter((l, i) => l.trim() !== '' && i % shard.count === shard.index);
  return fromIterable(function* () {
    for (const l of lines) {
      Atomics.add(args.pulls, 0, 1);
      yield l;
    }
  }).pipe(shuffle(args.window, { seed: args.seed + shard.index }), batch(args.batch), map(parse));
});
