/**
 * tfjs-style callbacks for `fit`: the list the user gave, called in order with Keras' hooks and logs.
 */
import type * as tf from '@tensorflow/tfjs';
import type { FitCallback } from './fitTypes.js';
import type { StepResult } from './trainOn.js';

/** What `setParams` tells callbacks (the fields `tf.callbacks.earlyStopping` and friends read). */
export interface TrainParams {
  readonly epochs: number;
  readonly initialEpoch: number;
  readonly steps: number;
  readonly doValidation: boolean;
  readonly metrics: readonly string[];
}

/**
 * Every callback the user gave, awaited one after another at each hook.
 *
 * ```
 * setModel ─▶ setParams ─▶ onTrainBegin ─▶ (onEpochBegin ─▶ (onBatchBegin ─▶ onBatchEnd)* ─▶ onEpochEnd)* ─▶ onTrainEnd
 * ```
 *
 * @example
 * ```ts
 * const callbacks = new CallbackList(options.callbacks);
 * await callbacks.trainBegin(model, params);
 * ```
 */
export class CallbackList {
  private readonly list: readonly FitCallback[];

  constructor(callbacks: FitCallback | readonly FitCallback[] | undefined) {
    this.list = callbacks ? ([] as FitCallback[]).concat(callbacks as FitCallback | FitCallback[]) : [];
  }

  /** Model and params to every callback, then `onTrainBegin`. */
  async trainBegin(model: tf.LayersModel | undefined, params: TrainParams): Promise<void> {
    if (model) for (const c of this.list) c.setModel?.(model);
    // tfjs declares params as a flat record; its callbacks read `metrics` as an array all the same.
    const flat = { ...params, verbose: 0 } as unknown as Record<string, number | string | boolean>;
    for (const c of this.list) c.setParams?.(flat);
    for (const c of this.list) await c.onTrainBegin?.({});
  }

  async epochBegin(epoch: number): Promise<void> {
    for (const c of this.list) await c.onEpochBegin?.(epoch, {});
  }

  /** The `beforeStep` hook for `trainOn`, or undefined when no callback wants `onBatchBegin` (no per-step cost). */
  batchBeginHook(): ((info: { readonly batch: number; readonly size: number }) => Promise<void>) | undefined {
    if (!this.list.some((c) => c.onBatchBegin)) return undefined;
    return async ({ batch, size }) => {
      for (const c of this.list) await c.onBatchBegin?.(batch, { batch, size });
    };
  }

  async batchEnd(result: StepResult): Promise<void> {
    for (const c of this.list) await c.onBatchEnd?.(result.batch, { batch: result.batch, size: result.size, loss: result.loss, ...result.metrics });
  }

  async epochEnd(epoch: number, logs: tf.Logs): Promise<void> {
    for (const c of this.list) await c.onEpochEnd?.(epoch, logs);
  }

  async trainEnd(): Promise<void> {
    for (const c of this.list) await c.onTrainEnd?.({});
  }
}
