/**
 * Scenario 3's pipeline head for `fromWorkers`: each worker makes its share of JPEG copies (as a
 * file reader would) and preprocesses them; the float32 results move to the main thread.
 * `control` (shared memory) counts every element a worker's source hands out, for the in-flight
 * column, and holds the run's size.
 */
import { map } from 'rxjs';
import { fromIterable } from '../../src/fromIterable.js';
import { definePipelineHead } from '../../src/workers/head.js';
import { preprocess, sampleJpeg } from './image.js';

export type ImageHeadArgs = {
  /** Shared memory: [0] every element a worker's source handed out; [1] elements per subscription (read at each subscribe, so kept threads serve runs of any size). */
  readonly control: Int32Array;
};
/** One preprocessed image and the worker it came from. */
export type ImageHeadElement = { readonly shard: number; readonly x: Float32Array };

export default definePipelineHead((shard, { control }: ImageHeadArgs) => {
  const bytes = sampleJpeg();
  return fromIterable(function* () {
    const n = Atomics.load(control, 1);
    const share = Math.floor(n / shard.count) + (shard.index < n % shard.count ? 1 : 0);
    for (let i = 0; i < share; i++) {
      Atomics.add(control, 0, 1);
      yield bytes.slice();
    }
  }).pipe(map((jpeg): ImageHeadElement => ({ shard: shard.index, x: preprocess(jpeg) })));
});
