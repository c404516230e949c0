/**
 * The handle `fit` returns: training's events, its history promise, the statistics, and stop().
 */
import { Subject } from 'rxjs';
import type { PipelineStats } from '../stats.js';
import type { StopControl } from './epochLoop.js';
import type { FitEvent, FitHistory, FitRun } from './fitTypes.js';

/** Training itself, given where to emit its events. */
export type Training = (emit: (event: FitEvent) => void) => Promise<FitHistory>;

/**
 * Starts `train` on the next tick and returns its {@link FitRun}.
 *
 * ```
 * train(emit) ─▶ events$: epochBegin, step…, epochEnd, checkpoint…, end | error
 *             ─▶ history: resolves with the FitHistory | rejects with the error
 * ```
 *
 * @example
 * ```ts
 * return startRun(stats, stop, (emit) => train(model, dataset$, options, stats, emit, stop));
 * ```
 */
export function startRun(stats: PipelineStats, stop: StopControl, train: Training): FitRun {
  const events = new Subject<FitEvent>();
  const history = new Promise<FitHistory>((resolve, reject) => {
    // Next tick: the caller gets to subscribe to events$ first.
    setImmediate(() => {
      train((event) => events.next(event)).then(
        (h) => {
          events.next({ type: 'end', history: h });
          events.complete();
          resolve(h);
        },
        (error: unknown) => {
          events.error(error);
          reject(error);
        },
      );
    });
  });
  // A run whose history nobody awaits must not crash the process with an unhandled rejection
  // when events$ carries the error; the caller's own `await run.history` still sees it.
  history.catch(() => undefined);
  return {
    events$: events.asObservable(),
    history,
    stats,
    stop: () => stop.request(),
  };
}
