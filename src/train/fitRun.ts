/**
 * The handle `fit` returns: lazy (training starts when someone listens or waits), with a bounded
 * replay of its events, a history promise, the statistics, `stop()` and an `AbortSignal`.
 */
import type { PipelineStats } from '../stats.js';
import type { StopControl } from './epochLoop.js';
import { EventReplay, type ReplayOptions } from './eventReplay.js';
import type { FitEvent, FitHistory, FitRun } from './fitTypes.js';

/** Training itself, given where to emit its events. */
export type Training = (emit: (event: FitEvent) => void) => Promise<FitHistory>;

/**
 * A {@link FitRun} that runs `train` once, when first asked: on the first subscription to
 * `events$`, the first read of `history`, or the first `then` (an `await run`).
 *
 * ```
 * fit(…)          ─▶ nothing runs yet
 * events$.subscribe / run.history / await run ─▶ train(emit), once
 *   events$: replay (run-level events + newest steps) ─▶ live ─▶ end | error
 *   history: resolves with the FitHistory | rejects with the error
 * signal.abort()  ─▶ stop at the next step boundary ─▶ rejects with AbortError
 * ```
 *
 * Unsubscribing from `events$` only stops listening; `stop()` or the signal stop training.
 *
 * @example
 * ```ts
 * return lazyRun(stats, stop, (emit) => train(model, dataset$, options, stats, emit, stop), options.replay);
 * ```
 */
export function lazyRun(stats: PipelineStats, stop: StopControl, train: Training, replayOptions?: ReplayOptions): FitRun {
  const replay = new EventReplay(replayOptions);
  let history: Promise<FitHistory> | undefined;
  const start = (): Promise<FitHistory> => {
    history ??= run();
    return history;
  };
  const run = async (): Promise<FitHistory> => {
    try {
      stop.watch();
      const result = await train((event) => replay.next(event));
      replay.next({ type: 'end', history: result });
      replay.complete();
      return result;
    } catch (error) {
      replay.error(error);
      throw error;
    } finally {
      stop.release();
    }
  };
  const events$ = replay.observable(() => {
    // A run whose history nobody awaits must not crash the process with an unhandled rejection
    // when events$ carries the error; the caller's own `await run.history` still sees it.
    start().catch(() => undefined);
  });
  return {
    events$,
    get history() {
      return start();
    },
    get started() {
      return history !== undefined;
    },
    stats,
    stop: () => stop.request(),
    then(onFulfilled, onRejected) {
      return start().then(onFulfilled, onRejected);
    },
  };
}
