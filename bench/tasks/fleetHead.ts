/**
 * The fleet scenario's CPU-heavy pipeline head, run by `rxdata-worker` processes and by
 * `fromWorkers` threads alike: each shard decodes and preprocesses its share of JPEGs (224×224×3,
 * bench/tasks/image.ts), average-pools each to 28×28×3 (so that batches stay small on the wire)
 * and batches them.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { map } from 'rxjs';
import { batch } from '../../operators/batch.js';
import { fromIterable } from '../../src/fromIterable.js';
import { definePipelineHead } from '../../src/workers/head.js';
import { SIDE, preprocess, sampleJpeg } from './image.js';

export type FleetHeadArgs = {
  readonly images: number;
  readonly batchSize: number;
  /**
   * A directory: the head notes `ready-<shard>` there when it starts and produces only once `go`
   * exists, so that every worker (process or thread) starts producing at the same moment, after
   * its module loading and connections (what the benchmark leaves out).
   */
  readonly barrier?: string;
};
const POOL = 8;
const OUT = SIDE / POOL;

/** 8×8 average pooling of an HWC float32 image. */
function pool(x: Float32Array): Float32Array {
  const out = new Float32Array(OUT * OUT * 3);
  for (let y = 0; y < SIDE; y++) {
    for (let xx = 0; xx < SIDE; xx++) {
      const o = (((y / POOL) | 0) * OUT + ((xx / POOL) | 0)) * 3;
      const i = (y * SIDE + xx) * 3;
      out[o] += x[i];
      out[o + 1] += x[i + 1];
      out[o + 2] += x[i + 2];
    }
  }
  for (let i = 0; i < out.length; i++) out[i] /= POOL * POOL;
  return out;
}

/** Resolves once `dir/go` exists. */
async function go(dir: string): Promise<void> {
  while (!existsSync(join(dir, 'go'))) await new Promise((resolve) => setTimeout(resolve, 5));
}

export default definePipelineHead((shard, { images, batchSize, barrier }: FleetHeadArgs) => {
  const jpeg = sampleJpeg();
  const share = Math.floor(images / shard.count) + (shard.index < images % shard.count ? 1 : 0);
  if (barrier) writeFileSync(join(barrier, `ready-${shard.index}`), '');
  return fromIterable(
    barrier
      ? async function* () {
          await go(barrier);
          for (let i = 0; i < share; i++) yield i;
        }
      : function* () {
          for (let i = 0; i < share; i++) yield i;
        },
  ).pipe(
    map((i) => ({ image: pool(preprocess(jpeg)), label: i % 10 })),
    batch(batchSize, { dtype: { label: 'int32' } }),
  );
});
