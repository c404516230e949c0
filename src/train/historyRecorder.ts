/**
 * What `fit` remembers of a run: every epoch's log, a bounded, evenly thinned step log, and
 * Keras' per-quantity history.
 */
import type * as tf from '@tensorflow/tfjs';
import type { EpochLog, FitHistory, StepLog } from './fitTypes.js';
import type { StepResult } from './trainOn.js';

/**
 * Collects a run's {@link FitHistory}.
 *
 * ```
 * step(r)      ─▶ steps: keep every stride-th; full (maxStepLogs) ─▶ stride ×2, drop the odd ones
 * epoch(log)   ─▶ epochs.push(log); history.loss/acc/val_… .push(value) ─▶ returns tfjs' logs
 * result(…)    ─▶ FitHistory
 * ```
 *
 * Holds at most `maxStepLogs` step records (at least 2), and one record per epoch.
 *
 * @example
 * ```ts
 * const recorder = new HistoryRecorder(100_000);
 * recorder.step(result);
 * const logs = recorder.epoch(epochLog);
 * ```
 */
export class HistoryRecorder {
  readonly epochs: EpochLog[] = [];
  private steps: StepLog[] = [];
  private readonly keras: Record<string, number[]> = {};
  private readonly maxStepLogs: number;
  /** Keep one step in `stride`: doubles each time the log fills, so memory stays bounded. */
  private stride = 1;

  constructor(maxStepLogs = 100_000) {
    this.maxStepLogs = Math.max(2, maxStepLogs);
  }

  step(result: StepResult): void {
    if (result.step % this.stride !== 0) return;
    this.steps.push({ step: result.step, epoch: result.epoch, loss: result.loss, waitMs: result.waitMs, stepMs: result.stepMs, size: result.size });
    if (this.steps.length >= this.maxStepLogs) {
      this.stride *= 2;
      this.steps = this.steps.filter((l) => l.step % this.stride === 0);
    }
  }

  /** Records an epoch; returns its tfjs logs (`loss`, metrics, `val_…`) for the callbacks. */
  epoch(log: EpochLog): tf.Logs {
    this.epochs.push(log);
    const logs: tf.Logs = { loss: log.loss, ...log.metrics, ...(log.validation ?? {}) };
    for (const [k, v] of Object.entries(logs)) (this.keras[k] ??= []).push(v);
    return logs;
  }

  result(fields: Pick<FitHistory, 'initialEpoch' | 'stopped' | 'backend' | 'wallMs'>): FitHistory {
    return { epochs: this.epochs, steps: this.steps, history: this.keras, ...fields };
  }
}
