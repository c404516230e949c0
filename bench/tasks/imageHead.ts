/**
 * Scenario 3's pipeline head for `fromWorkers`: each worker makes its share of JPEG copies (as a
 * file reader would) and preprocesses them; the float32 results move to the main thread.
 * `pulls` (shared memory) counts every element a worker's source hands out, for the in-flight column.
 */
import { map } from 'rxjs';
import { fromIterable } from '../../src/fromIterable.js';
import { definePipelineHead } from '../../src/workers/head.js';
import { preprocess, sampleJpeg } from './image.js';

export type ImageHeadArgs = { readonly n: number; readonly pulls: Int32Array };
/** One preprocessed image and the worker it came from. */
export type ImageHeadElement = { readonly shard: number; readonly x: Float32Array };

export default definePipelineHead((shard, { n, pulls }: ImageHeadArgs) => {
  const bytes = sampleJpeg();
  const share = Math.floor(n / shard.count) + (shard.index < n % shard.count ? 1 : 0);
  return fromIterable(function* () {
    for (let i = 0; i < share; i++) {
      Atomics.add(pulls, 0, 1);
      yield bytes.slice();
    }
  }).pipe(map((jpeg): ImageHeadElement => ({ shard: shard.index, x: preprocess(jpeg) })));
});
