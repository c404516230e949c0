import { asyncScheduler, type MonoTypeOperatorFunction, type SchedulerLike } from 'rxjs';
import { refuseCheckpoint } from '../src/state/refuse.js';
import { scoped } from '../src/flow.js';
import { hub } from '../src/hub.js';

export interface ShareReplayConfig {
  /** Values kept for late subscribers. Default Infinity, as RxJS: bound it, or use `cache()`. */
  bufferSize?: number;
  /** How long a kept value stays, in ms. Default Infinity. */
  windowTime?: number;
  /** Unsubscribe the source when the last subscriber leaves. Default false, as RxJS. */
  refCount?: boolean;
  scheduler?: SchedulerLike;
}

/**
 * RxJS's `shareReplay`, obeying demand: `share` paced by the slowest subscriber, plus the last
 * `bufferSize` values replayed at once to each late subscriber.
 *
 * ```
 * source:   -a-b-c-|
 * first:    -a-b-c-|
 * late:            (a b c)|   (bufferSize 3)
 * ```
 *
 * With no subscriber the source is not read (RxJS's keeps pushing into the buffer). Bound:
 * `bufferSize` values, replayed at once to a late subscriber. For datasets use `cache()`, which
 * replays under demand and spills to disk.
 *
 * @example
 * ```ts
 * import { shareReplay } from 'rxdata/rxjs';
 * const latest$ = fromMqtt(options).pipe(shareReplay(1));
 * ```
 */
export function shareReplay<T>(config: ShareReplayConfig): MonoTypeOperatorFunction<T>;
export function shareReplay<T>(bufferSize?: number, windowTime?: number, scheduler?: SchedulerLike): MonoTypeOperatorFunction<T>;
export function shareReplay<T>(configOrSize?: ShareReplayConfig | number, windowTime?: number, scheduler?: SchedulerLike): MonoTypeOperatorFunction<T> {
  const config: ShareReplayConfig =
    typeof configOrSize === 'object' ? configOrSize : { bufferSize: configOrSize, windowTime, scheduler };
  const replay = {
    bufferSize: config.bufferSize ?? Infinity,
    windowTime: config.windowTime ?? Infinity,
    scheduler: config.scheduler ?? asyncScheduler,
  };
  return (source) => {
    const join = hub<T>('shareReplay', source, {
      resetOnError: true,
      resetOnComplete: false,
      resetOnRefCountZero: config.refCount ?? false,
      replay,
    });
    return scoped<T>((subscriber, scope) => {
      // In a resumable pipeline a checkpoint fails naming this stage (docs/resume.md).
      refuseCheckpoint('shareReplay', 'shareReplay', 'it multicasts one subscription to several subscribers and replays to late ones; their positions cannot be saved together');
      return join(subscriber, scope);
    });
  };
}
