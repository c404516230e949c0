import type { MonoTypeOperatorFunction } from 'rxjs';
import { refuseCheckpoint } from '../src/state/refuse.js';
import { scoped } from '../src/flow.js';
import { hub } from '../src/hub.js';

export interface ShareOptions {
  /** Start afresh (re-subscribe the source) after it errors. Default true, as RxJS. */
  resetOnError?: boolean;
  /** Start afresh after it completes. Default true. */
  resetOnComplete?: boolean;
  /** Unsubscribe the source when the last subscriber leaves. Default true. */
  resetOnRefCountZero?: boolean;
}

/**
 * RxJS's `share`, obeying demand: one subscription to the source, multicast to every subscriber,
 * and read only while **every** subscriber's stage below takes more (paced by the slowest).
 *
 * ```
 * source:     -a-b-c-------d-…   (waits for the slowest subscriber)
 * fast sink:  -a-b-c-------d-
 * slow sink:  ---a---b---c---d-
 * ```
 *
 * RxJS's own `share` pushes at the pace of the source, so a slow subscriber's buffer grows. Here
 * a plain `subscribe` paces nothing (it takes everything); a subscriber that must not slow the
 * others (a monitor) puts {@link lossy} first: `shared$.pipe(lossy(16), consume(log))` holds 16
 * and drops the oldest, counted. Bound: none of its own; each subscriber holds what its stages do.
 * The `connector` option of RxJS is not supported (shareReplay covers ReplaySubject).
 *
 * @example
 * ```ts
 * import { share } from 'rxdata/rxjs';
 * const rows$ = fromFiles('data/*.csv', { format: 'csv' }).pipe(share());
 * rows$.pipe(batch(32), trainOn(model)).subscribe();
 * rows$.pipe(lossy(64), consume(updateDashboard)).subscribe();
 * ```
 */
export function share<T>(options: ShareOptions = {}): MonoTypeOperatorFunction<T> {
  const { resetOnError = true, resetOnComplete = true, resetOnRefCountZero = true } = options;
  return (source) => {
    const join = hub<T>('share', source, { resetOnError, resetOnComplete, resetOnRefCountZero });
    return scoped<T>((subscriber, scope) => {
      // In a resumable pipeline a checkpoint fails naming this stage (docs/resume.md).
      refuseCheckpoint('share', 'share', 'it multicasts one subscription to several subscribers, whose positions cannot be saved together');
      return join(subscriber, scope);
    });
  };
}
