import type { MonoTypeOperatorFunction, SchedulerLike } from 'rxjs';
import { scheduledStage, type ScheduledOptions } from '../src/scheduled.js';

/**
 * RxJS's `observeOn`, obeying demand: re-emits every notification from `scheduler`, holding at
 * most `bufferSize` values (default 16) scheduled or waiting for the stage below.
 *
 * ```
 * source:   -a-b-c-d-…   (pauses while bufferSize values are held)
 * output:   --a-b-c-d-…  (each from a scheduler action)
 * ```
 *
 * RxJS's own `observeOn` schedules everything it receives, so a fast source fills the
 * scheduler's queue. Bound: `bufferSize`.
 *
 * @example
 * ```ts
 * import { asyncScheduler } from 'rxjs';
 * import { observeOn } from 'rxdata/rxjs';
 * source$.pipe(observeOn(asyncScheduler), consume(train));
 * ```
 */
export function observeOn<T>(scheduler: SchedulerLike, delay = 0, options: ScheduledOptions = {}): MonoTypeOperatorFunction<T> {
  return scheduledStage<T>('observeOn', scheduler, () => delay, false, options);
}
