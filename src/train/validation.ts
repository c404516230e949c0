/**
 * Validation for `fit`: a model evaluated on a cold pipeline of batches, tensors freed per batch.
 */
import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, type Observable } from 'rxjs';
import { consume } from '../../operators/consume.js';
import { leadingSize, selectArrays, toTensors, type BatchSelector, type TensorInput } from './tensors.js';

/** `evaluate` takes no name map: order named tensors as the model's inputs or outputs. */
function asList(input: TensorInput, names: readonly string[]): tf.Tensor | tf.Tensor[] {
  if (input instanceof tf.Tensor || Array.isArray(input)) return input;
  return names.map((n) => {
    const t = input[n];
    if (!t) throw new TypeError(`fit: no field for the model's '${n}' (have ${Object.keys(input).join(', ')})`);
    return t;
  });
}

/**
 * Evaluates `model` on validation batches: tensors per batch, `model.evaluate`, freed at once.
 *
 * ```
 * val$ ─▶ [batch → tensors → evaluate → numbers, dispose] ─▶ size-weighted means { loss, acc }
 * ```
 *
 * Holds one batch's tensors at a time (`consume`, concurrency 1).
 *
 * @example
 * ```ts
 * const { loss, acc } = await evaluateBatches(model, test$.pipe(batch(256)));
 * ```
 */
export async function evaluateBatches<B>(model: tf.LayersModel, batches$: Observable<B>, selector: BatchSelector<B> = {}): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  let samples = 0;
  const names = model.metricsNames;
  const evaluateOne = async (batch: B): Promise<void> => {
    const made: tf.Tensor[] = [];
    let out: tf.Scalar | tf.Scalar[] = [];
    try {
      const arrays = selectArrays(batch, selector);
      const size = leadingSize(arrays.xs);
      const xs = asList(toTensors(arrays.xs, made), model.inputNames);
      const ys = asList(toTensors(arrays.ys, made), model.outputNames);
      out = model.evaluate(xs, ys, { batchSize: Math.max(size, 1) });
      const values = await Promise.all((Array.isArray(out) ? out : [out]).map(async (s) => (await s.data())[0]));
      values.forEach((v, i) => (sums[names[i] ?? `metric${i}`] = (sums[names[i] ?? `metric${i}`] ?? 0) + v * size));
      samples += size;
    } finally {
      for (const t of made) t.dispose();
      tf.dispose(out);
    }
  };
  await lastValueFrom(batches$.pipe(consume(evaluateOne, { name: 'evaluate' })), { defaultValue: undefined });
  return Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v / Math.max(samples, 1)]));
}

/** {@link evaluateBatches} with tfjs' log names: `val_loss`, `val_acc`, … */
export async function validate<B>(model: tf.LayersModel, batches$: Observable<B>, selector: BatchSelector<B>): Promise<Record<string, number>> {
  const results = await evaluateBatches(model, batches$, selector);
  return Object.fromEntries(Object.entries(results).map(([k, v]) => [`val_${k}`, v]));
}
