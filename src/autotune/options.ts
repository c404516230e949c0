/** Settings of a pipeline's tuner: `new PipelineStats({ autotune: { ramBudget } })`. */
export interface AutotuneOptions {
  /**
   * Bytes the tuned stages may hold together (elements in flight in `'auto'` stages times their
   * measured size). Default: {@link DEFAULT_RAM_SHARE} of the memory free when the tuner starts
   * (tf.data's default share).
   */
  readonly ramBudget?: number;
  /** How often the tuner looks at the statistics, in ms. Default {@link DEFAULT_PERIOD_MS}. */
  readonly periodMs?: number;
  /** The clock the tuner and its stages read, in ms (default `performance.now`): tests inject one. */
  readonly clock?: () => number;
  /** No timer: whoever holds the tuner calls `tick()` (tests). Default false. */
  readonly manual?: boolean;
  /**
   * Cores the tuner assumes (default `availableCores()`: the CPUs this process may use, capped by
   * a cgroup quota): `parallelMap`'s `'auto'` concurrency starts there, since a map on a worker
   * pool or an I/O map wants at least that many calls at once, and one on the main thread is
   * brought back to 1 by its CPU model at the first look. Tests set it.
   */
  readonly cores?: number;
}

/** The share of free memory the default budget takes (tf.data's `kRamBudgetShare`). */
export const DEFAULT_RAM_SHARE = 0.5;
/** How often the tuner looks by default, in ms. */
export const DEFAULT_PERIOD_MS = 200;

/** Ceiling of `parallelMap(fn, { concurrency: 'auto' })` unless `maxConcurrency` says otherwise. */
export const AUTO_MAX_CONCURRENCY = 16;
/** Ceiling of `prefetch('auto')` unless `{ max }` says otherwise. */
export const AUTO_MAX_PREFETCH = 16;
/** Ceiling of a push source's `highWaterMark: 'auto'` (Kafka, BigQuery…) unless `maxHighWaterMark` says otherwise. */
export const AUTO_MAX_HIGH_WATER_MARK = 4096;
/** Ceiling of `interleave`'s `cycleLength: 'auto'` unless `maxCycleLength` says otherwise. */
export const AUTO_MAX_CYCLE_LENGTH = 16;
