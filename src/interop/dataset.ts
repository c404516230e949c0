/**
 * tfjs-data interop: our Observables as `tf.data.Dataset`s (for `model.fitDataset`) and back.
 */
import * as tf from '@tensorflow/tfjs';
import type { Observable } from 'rxjs';
import { cardinalitySync, declareCardinality } from '../cardinality.js';
import { fromIterable } from '../fromIterable.js';
import { toTensor } from '../train/tensors.js';
import { isNDArray, type NDArray } from '../types.js';
import { PullIterator } from './asyncIterable.js';

export interface ToDatasetOptions {
  /** Turn NDArray leaves (`{ data, shape }`) into tensors, as `fitDataset` needs. Default true. */
  tensors?: boolean;
}

/** A `tf.data.Dataset` over an Observable; `close()` ends the iterations tfjs left open. */
export type ObservableDataset = tf.data.Dataset<tf.TensorContainer> & {
  /** Unsubscribes every iteration still open (fitDataset with `batchesPerEpoch` never ends its iterator). */
  close(): void;
};

/** NDArray leaves → tensors, anywhere in an element (objects and arrays); other leaves as they are. */
function tensorize(value: unknown, made: tf.Tensor[]): tf.TensorContainer {
  if (isNDArray(value)) {
    const t = toTensor(value);
    made.push(t);
    return t;
  }
  if (Array.isArray(value)) return value.map((v) => tensorize(v, made));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, tf.TensorContainer> = {};
    for (const [k, v] of Object.entries(value)) out[k] = tensorize(v, made);
    return out;
  }
  return value as tf.TensorContainer;
}

/**
 * A `tf.data.Dataset` that reads `source$` one element per `next()`: what `model.fitDataset`,
 * `dataset.forEachAsync` and tfjs-data's own operators take.
 *
 * ```
 * fitDataset:  next() ──▶ gate opens for one element ──▶ source pulls one ──▶ { xs, ys } tensors
 * ```
 *
 * Each `iterator()` call (fitDataset makes one per epoch) subscribes afresh, behind a gate that
 * opens once per `next()`, so a source of ours pulls exactly what tfjs asks for: in flight, at
 * most one element. NDArray leaves become tensors (int32 stays int32, others float32); the
 * tensors belong to the consumer (`fitDataset` disposes them after each step). The dataset's
 * `size` is the source's cardinality when known at once. tfjs never ends an iterator it stops
 * reading (`batchesPerEpoch`): call `close()` after training to release the source.
 *
 * @example
 * ```ts
 * const ds = toDataset(rows$.pipe(batch(32)));
 * await model.fitDataset(ds, { epochs: 5 });
 * ds.close();
 * ```
 */
export function toDataset<T>(source$: Observable<T>, options: ToDatasetOptions = {}): ObservableDataset {
  const { tensors = true } = options;
  const open = new Set<PullIterator<T>>();
  const dataset = tf.data.generator(() => {
    const iterator = new PullIterator(source$, 0);
    open.add(iterator);
    return {
      async next(): Promise<IteratorResult<tf.TensorContainer>> {
        const result = await iterator.next().catch((error: unknown) => {
          open.delete(iterator);
          throw error;
        });
        if (result.done) {
          open.delete(iterator);
          return { value: undefined, done: true };
        }
        return { value: tensors ? tensorize(result.value, []) : (result.value as tf.TensorContainer), done: false };
      },
    };
  }) as ObservableDataset;
  const size = cardinalitySync(source$);
  if (typeof size === 'number') Object.defineProperty(dataset, 'size', { value: size });
  else if (size === 'infinite') Object.defineProperty(dataset, 'size', { value: Infinity });
  dataset.close = () => {
    for (const iterator of open) iterator.close();
    open.clear();
  };
  return dataset;
}

export interface FromDatasetOptions {
  /**
   * Copy tensor leaves into NDArrays (`{ data, shape }`) and dispose the tensors, so that nothing
   * in the pipeline holds a tensor (caching, shuffling and prefetching stay free of GPU memory).
   * Default true. `false` passes tensors on: then you dispose them.
   */
  toArrays?: boolean;
}

/** Tensor leaves → NDArrays (one copy each); tensors disposed. */
function untensorize(value: unknown): unknown {
  if (value instanceof tf.Tensor) {
    const nd: NDArray = { data: value.dataSync() as NDArray['data'], shape: value.shape };
    value.dispose();
    return nd;
  }
  if (Array.isArray(value)) return value.map(untensorize);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = untensorize(v);
    return out;
  }
  return value;
}

/**
 * An Observable over a `tf.data.Dataset` (tfjs-data's `csv`, `array`, `generator`, a dataset from
 * a library): each subscription makes a new iterator and calls `next()` only on demand.
 *
 * ```
 * dataset:  iterator().next() … (pulled, never pushed)
 * output:   -e0-e1-e2-|           (tensors copied to NDArrays and disposed)
 * ```
 *
 * In flight: nothing beyond the element being handed on (tfjs's own `prefetch` stages, if the
 * dataset has them, read ahead on their own). The dataset's `size`, when finite, becomes the
 * cardinality.
 *
 * @example
 * ```ts
 * fromDataset(tf.data.csv(url)).pipe(parallelMap(parse, { concurrency: 4 }), batch(32));
 * ```
 */
export function fromDataset<T extends tf.TensorContainer, R = unknown>(dataset: tf.data.Dataset<T>, options: FromDatasetOptions = {}): Observable<R> {
  const { toArrays = true } = options;
  const source = fromIterable<R>(
    async function* () {
      const iterator = await dataset.iterator();
      for (;;) {
        const result = await iterator.next();
        if (result.done) return;
        yield (toArrays ? untensorize(result.value) : result.value) as R;
      }
    },
    { name: 'fromDataset' },
  );
  const size = dataset.size as number | null | undefined;
  if (typeof size === 'number' && size >= 0) return declareCardinality(source, Number.isFinite(size) ? size : 'infinite');
  return source;
}
