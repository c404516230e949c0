/**
 * Autotune: `'auto'` for parallelism and buffer sizes, chosen while the pipeline runs by one
 * tuner per pipeline, within a memory budget. See docs/autotune.md.
 */
import type { PipelineStats } from '../stats.js';
import { renderAutotuneHtml, summarize, type AutotuneSummary } from './explain.js';
import { existingTuner } from './tuner.js';

export { Tuner, tunerFor, tunedScope, existingTuner, type Decision } from './tuner.js';
export { Knob, type KnobKind, type KnobSpec } from './knob.js';
export { decide, initialState, type Window, type Bounds, type Change, type PolicyState } from './policy.js';
export { formatSummary, formatDecision, renderAutotuneHtml, type AutotuneSummary, type TunedStage } from './explain.js';
export { decideWorkers, tuneWorkers, type WorkerTuning } from './workers.js';
export * from './options.js';

/** What the pipeline's tuner chose, when and why; undefined when no stage of it was `'auto'`. */
export function autotuneSummary(stats: PipelineStats): AutotuneSummary | undefined {
  const tuner = existingTuner(stats);
  return tuner && tuner.allKnobs.length > 0 ? summarize(tuner) : undefined;
}

/** The tuner's section of an HTML report, or '' when nothing was tuned. */
export function autotuneHtml(stats: PipelineStats): string {
  const summary = autotuneSummary(stats);
  return summary ? renderAutotuneHtml(summary) : '';
}
