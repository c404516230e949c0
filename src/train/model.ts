/**
 * What the training sink accepts as a model, recognised by shape rather than by class: a
 * `tf.LayersModel` from another copy of tfjs (a second `@tensorflow/tfjs` in `node_modules`, a
 * bundle) fails `instanceof` against ours, yet shares tfjs' one global engine and trains fine.
 */
import type * as tf from '@tensorflow/tfjs';

/** The methods of `tf.LayersModel` the sink calls (training, validation, checkpoints). */
export const LAYERS_MODEL_METHODS = ['trainOnBatch', 'evaluate', 'getWeights', 'setWeights', 'save'] as const;

/** Whether `x` looks like a `tf.LayersModel`: an object with {@link LAYERS_MODEL_METHODS}. */
export function isLayersModel(x: unknown): x is tf.LayersModel {
  if (x === null || typeof x !== 'object') return false;
  const candidate = x as Record<string, unknown>;
  return LAYERS_MODEL_METHODS.every((name) => typeof candidate[name] === 'function');
}

/**
 * Sorts what a user passed as the model: a LayersModel (by shape) or a custom step function;
 * anything else is a `TypeError` saying what was expected and what is missing.
 *
 * @example
 * ```ts
 * const { layers, step } = trainable(model, 'fit');
 * ```
 */
export function trainable<S extends (...args: never[]) => unknown>(model: tf.LayersModel | S, origin: string): { layers: tf.LayersModel; step?: undefined } | { layers?: undefined; step: S } {
  if (typeof model === 'function') return { step: model };
  if (isLayersModel(model)) return { layers: model };
  const value = model as unknown;
  const got =
    value !== null && typeof value === 'object'
      ? `an object without ${LAYERS_MODEL_METHODS.filter((name) => typeof (value as Record<string, unknown>)[name] !== 'function').join(', ')}`
      : value === null
        ? 'null'
        : typeof value;
  throw new TypeError(`${origin}: the model must be a tf.LayersModel (an object with ${LAYERS_MODEL_METHODS.join(', ')}) or a step function; got ${got}`);
}
