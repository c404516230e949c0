/**
 * When `fit` saves and where it resumes: the `checkpoint` and `resumeFrom` options turned into
 * calls to {@link saveCheckpoint} and {@link restoreCheckpoint}.
 */
import type * as tf from '@tensorflow/tfjs';
import { restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
import type { CheckpointOptions } from './fitTypes.js';

/** Where training starts: epoch and step counters (0 and 0 unless resumed). */
export interface StartPoint {
  readonly initialEpoch: number;
  readonly step: number;
}

/** Told of each checkpoint written: its path, the step count, and the epoch it was saved in. */
export type OnSaved = (saved: { readonly path: string; readonly step: number; readonly epoch: number }) => void;

/**
 * Saves every `everyEpochs` epochs (counted from the epoch training started at) and every
 * `everySteps` steps; resumes weights, optimizer slots and counters from `resumeFrom`.
 *
 * ```
 * resume(resumeFrom) ─▶ { initialEpoch, step }
 * afterStep(step, epoch)  ─▶ step % everySteps == 0            ? save (nextEpoch = epoch: rerun it)
 * afterEpoch(epoch)       ─▶ (epoch+1−initial) % everyEpochs == 0 ? save (nextEpoch = epoch + 1)
 * ```
 *
 * Holds nothing but its options: each save is awaited before training goes on.
 *
 * @example
 * ```ts
 * const policy = new CheckpointPolicy(model, { dir: 'runs/a', everySteps: 500 }, (s) => console.log(s.path));
 * const { initialEpoch, step } = await policy.resume('runs/a');
 * ```
 */
export class CheckpointPolicy {
  private readonly everyEpochs: number;
  private initialEpoch = 0;

  constructor(
    private readonly model: tf.LayersModel | undefined,
    private readonly options: CheckpointOptions | undefined,
    private readonly onSaved: OnSaved,
  ) {
    this.everyEpochs = options ? (options.everyEpochs ?? (options.everySteps ? 0 : 1)) : 0;
  }

  /** Restores the checkpoint at `path` into the model, or starts from zero when there is none. */
  async resume(path: string | undefined): Promise<StartPoint> {
    if (!path || !this.model) return { initialEpoch: 0, step: 0 };
    const state = await restoreCheckpoint(this.model, path);
    this.initialEpoch = state.nextEpoch;
    return { initialEpoch: state.nextEpoch, step: state.step };
  }

  /** After step number `step` (1-based, whole run) of `epoch`. */
  async afterStep(step: number, epoch: number): Promise<void> {
    const every = this.options?.everySteps;
    // A step checkpoint reruns its epoch on resume: pipelines restart at an epoch's beginning.
    if (every && step % every === 0) await this.save(epoch, step, epoch);
  }

  /** After `epoch` ended, `step` steps done in all. */
  async afterEpoch(epoch: number, step: number): Promise<void> {
    if (this.everyEpochs && (epoch + 1 - this.initialEpoch) % this.everyEpochs === 0) await this.save(epoch + 1, step, epoch);
  }

  private async save(nextEpoch: number, step: number, epoch: number): Promise<void> {
    if (!this.options || !this.model) return;
    const path = await saveCheckpoint(this.model, this.options.dir, { nextEpoch, step }, this.options.keep);
    this.onSaved({ path, step, epoch });
  }
}
