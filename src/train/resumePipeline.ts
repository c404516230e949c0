/**
 * `fit`'s side of the pipeline state (src/state/, docs/resume.md): wraps the dataset in
 * `resumable`, restores the position a checkpoint saved, and gives `CheckpointPolicy` the state
 * to save beside the model.
 */
import type { Observable } from 'rxjs';
import { CheckpointError } from '../state/registry.js';
import { resumable, startOfEpoch } from '../state/resumable.js';
import { decodePipelineState, encodePipelineState } from '../state/file.js';
import type { PipelineStateFn } from './checkpointPolicy.js';
import type { FitOptions } from './fitTypes.js';

/** The dataset as fit subscribes it, and the pipeline state for each save. */
export interface FitPipeline<B> {
  readonly source$: Observable<B>;
  /** Elements of the resumed epoch consumed before the checkpoint (0 when starting an epoch). */
  readonly consumed: number;
  /** The state to save now, `consumed` batches of this subscription trained (default: all delivered); undefined when fit saves none. */
  state(consumed?: number): PipelineStateFn | undefined;
}

/**
 * Wraps `dataset$` when checkpoints are saved or restored (otherwise it is used as it is, with
 * no bookkeeping per element). A saved mid-epoch position of epoch `initialEpoch` is restored;
 * otherwise the pipeline starts `initialEpoch` from its beginning, with that epoch's shuffle order.
 */
export function resumedPipeline<B>(dataset$: Observable<B>, options: FitOptions<B>, initialEpoch: number, saved: Uint8Array | undefined, note: (message: string) => void): FitPipeline<B> {
  const mode = options.checkpoint?.pipeline ?? 'auto';
  if ((!options.checkpoint && !options.resumeFrom) || mode === false) return { source$: dataset$, consumed: 0, state: () => undefined };
  const data = resumable(dataset$, { name: 'fit' });
  const state = saved ? decodePipelineState(saved, `${options.resumeFrom}/pipeline.bin`) : undefined;
  const resume = state && state.epoch === initialEpoch ? state : startOfEpoch(initialEpoch);
  data.restore(resume);
  if (resume.at === 'mid') note(`pipeline resumed mid-epoch: ${resume.consumed} batches of epoch ${initialEpoch + 1} already trained`);
  let warned = false;
  return {
    source$: data,
    consumed: resume.at === 'mid' ? resume.consumed : 0,
    state: (consumed) => {
      if (!options.checkpoint) return undefined;
      return () => {
        try {
          return encodePipelineState(data.checkpoint({ consumed }));
        } catch (error) {
          if (!(error instanceof CheckpointError) || mode === 'required') throw error;
          if (!warned) {
            warned = true;
            process.emitWarning(`${error.message}; checkpoints are saved without the pipeline's position (a resumed run reruns the epoch)`, { code: 'RXDATA_PIPELINE_STATE' });
          }
          return undefined;
        }
      };
    },
  };
}
