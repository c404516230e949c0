/**
 * One epoch of `fit`: subscribe the pipeline through the trainer, add up what the steps did, and
 * stop at a step boundary when asked.
 */
import { takeWhile, type Observable } from 'rxjs';
import { abortError } from '../abort.js';
import type { EpochLog } from './fitTypes.js';
import type { StepResult, TrainOperator } from './trainOn.js';

/**
 * A stop request from outside the loop (`run.stop()`, or the run's `AbortSignal`): flags it, and
 * cuts the epoch running now (unsubscribes its pipeline) so an endless or slow pipeline stops at
 * once. An abort is a stop that the run then reports as an `AbortError`.
 */
export class StopControl {
  private stopRequested = false;
  private cut: (() => void) | undefined;
  private readonly onAbort = (): void => this.request();

  constructor(private readonly signal?: AbortSignal) {}

  /** The run starts: from now on an abort stops it (a run never started never listens). */
  watch(): void {
    this.throwIfAborted();
    this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get requested(): boolean {
    return this.stopRequested || this.aborted;
  }

  get aborted(): boolean {
    return this.signal?.aborted ?? false;
  }

  request(): void {
    this.stopRequested = true;
    this.cut?.();
  }

  /** What a request does to the epoch running now. */
  onRequest(cut: () => void): void {
    this.cut = cut;
  }

  /** Throws the run's `AbortError` once the signal has aborted. */
  throwIfAborted(): void {
    if (this.signal?.aborted) throw abortError('fit', this.signal);
  }

  /** The run is over: stop listening to the signal (a long-lived signal must not keep the run). */
  release(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.cut = undefined;
  }
}

/** What an epoch's steps add up to. */
export interface EpochTotals {
  readonly steps: number;
  readonly samples: number;
  readonly waitMs: number;
  /** Sum of loss × batch size. */
  readonly lossSum: number;
  /** Per metric, sum of value × batch size. */
  readonly metricSums: Readonly<Record<string, number>>;
  /** When the epoch started (`performance.now()`): its wall time runs to the log, validation included. */
  readonly startedAt: number;
}

/**
 * Runs one epoch: subscribes `batches$` through `trainer` and resolves with the totals once the
 * pipeline completes, `keepGoing()` turns false (after the step that turned it), or `stop`
 * cuts it; then waits until no step is in flight, so the cut step's tensors are freed.
 *
 * ```
 * batches$ ─▶ trainer ─▶ takeWhile(keepGoing, inclusive) ─▶ totals += step
 *   stop.request() ──▶ unsubscribe ─▶ trainer.idle() ─▶ totals
 * ```
 *
 * Holds no batch itself: the trainer holds one step's batch and one looked-ahead batch.
 *
 * @example
 * ```ts
 * const totals = await runEpoch(trainer, dataset$, () => !model.stopTraining, stop);
 * ```
 */
export async function runEpoch<B>(trainer: TrainOperator<B>, batches$: Observable<B>, keepGoing: () => boolean, stop: StopControl): Promise<EpochTotals> {
  const started = performance.now();
  let steps = 0;
  let samples = 0;
  let waitMs = 0;
  let lossSum = 0;
  const metricSums: Record<string, number> = {};
  const add = (result: StepResult): void => {
    steps++;
    samples += result.size;
    waitMs += result.waitMs;
    lossSum += result.loss * result.size;
    for (const [k, v] of Object.entries(result.metrics)) metricSums[k] = (metricSums[k] ?? 0) + v * result.size;
  };
  await new Promise<void>((resolve, reject) => {
    const subscription = batches$.pipe(trainer, takeWhile(keepGoing, true)).subscribe({ next: add, error: reject, complete: resolve });
    stop.onRequest(() => {
      subscription.unsubscribe();
      resolve();
    });
  });
  // An unsubscribe mid-step leaves that step running: wait so its tensors are freed.
  await trainer.idle();
  return { steps, samples, waitMs, lossSum, metricSums, startedAt: started };
}

/** The epoch's log from its totals: size-weighted means, rates over the epoch's wall time so far, and the validation results. */
export function epochLog(epoch: number, totals: EpochTotals, validation: Record<string, number> | undefined, step: number): EpochLog {
  const { steps, samples, waitMs } = totals;
  const wallMs = performance.now() - totals.startedAt;
  const per = Math.max(samples, 1);
  return {
    epoch,
    steps,
    samples,
    loss: totals.lossSum / per,
    metrics: Object.fromEntries(Object.entries(totals.metricSums).map(([k, v]) => [k, v / per])),
    validation,
    wallMs,
    waitMs,
    inputWait: waitMs / Math.max(wallMs, 1e-9),
    samplesPerSec: (samples / Math.max(wallMs, 1e-9)) * 1000,
    step,
  };
}
