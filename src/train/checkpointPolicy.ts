/**
 * When `fit` saves and where it resumes: the `checkpoint` and `resumeFrom` options turned into
 * calls to {@link saveCheckpoint} and {@link restoreCheckpoint}.
 */
import type * as tf from '@tensorflow/tfjs';
import { readCheckpointFile, restoreCheckpoint, saveCheckpoint } from './checkpoint.js';
import type { CheckpointOptions } from './fitTypes.js';

/** Where training starts: epoch and step counters (0 and 0 unless resumed). */
export interface StartPoint {
  readonly initialEpoch: number;
  readonly step: number;
  /** The pipeline's state saved with the checkpoint (`pipeline.bin`), when it has one. */
  readonly pipeline?: Uint8Array;
}

/** The pipeline state's file in a checkpoint folder. */
export const PIPELINE_FILE = 'pipeline.bin';

/** The pipeline's state at the moment of a save, as bytes (see src/state/), or nothing to save. */
export type PipelineStateFn = () => Uint8Array | undefined;

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
    return { initialEpoch: state.nextEpoch, step: state.step, pipeline: await readCheckpointFile(path, PIPELINE_FILE) };
  }

  /**
   * After step number `step` (1-based, whole run) of `epoch`. A step checkpoint reruns its epoch
   * on resume, unless `pipeline` gives the pipeline's position: then the epoch continues there.
   */
  async afterStep(step: number, epoch: number, pipeline?: PipelineStateFn): Promise<void> {
    const every = this.options?.everySteps;
    if (every && step % every === 0) await this.save(epoch, step, epoch, pipeline);
  }

  /** After `epoch` ended, `step` steps done in all. */
  async afterEpoch(epoch: number, step: number, pipeline?: PipelineStateFn): Promise<void> {
    if (this.everyEpochs && (epoch + 1 - this.initialEpoch) % this.everyEpochs === 0) await this.save(epoch + 1, step, epoch, pipeline);
  }

  private async save(nextEpoch: number, step: number, epoch: number, pipeline?: PipelineStateFn): Promise<void> {
    if (!this.options || !this.model) return;
    // Taken now, synchronously, before any await lets the pipeline move on.
    const state = pipeline?.();
    const files: Record<string, Uint8Array> = state ? { [PIPELINE_FILE]: state } : {};
    const path = await saveCheckpoint(this.model, this.options.dir, { nextEpoch, step }, this.options.keep, files);
    this.onSaved({ path, step, epoch });
  }
}
