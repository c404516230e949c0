import type { Observable } from 'rxjs';
import { withSignal } from './abort.js';
import { LimitError } from './errors.js';
import { Outbox, scoped } from './flow.js';
import { stageFor, type StageStats } from './stats.js';
import { AUTO_MAX_HIGH_WATER_MARK } from './autotune/options.js';
import { tunedScope } from './autotune/tuner.js';

/**
 * What a push source does when its buffer is full:
 * - `'pause'`: the producer promised to stop (it watches `wantsMore` and `onWantMore`); what it
 *   still delivers after pausing (the rest of one network chunk, say) is kept;
 * - `'drop-oldest'` / `'drop-newest'`: for producers that cannot pause (UDP, MQTT QoS 0); every
 *   drop is counted in the statistics;
 * - `'error'`: fail the pipeline with a {@link LimitError}.
 */
export type OverflowPolicy = 'pause' | 'drop-oldest' | 'drop-newest' | 'error';

export interface PushSourceOptions {
  /**
   * Elements held for the stages below before the producer is asked to pause. `'auto'`: the
   * pipeline's tuner sets it while the source runs (deeper when the pipeline waits on an empty
   * buffer that also runs full: bursty fetches), from 256 within 1 … `maxHighWaterMark`
   * (docs/autotune.md).
   */
  highWaterMark?: number | 'auto';
  /** The ceiling of `highWaterMark: 'auto'` (the bound in flight). Default {@link AUTO_MAX_HIGH_WATER_MARK} (4096). */
  maxHighWaterMark?: number;
  overflow?: OverflowPolicy;
  /** The stage's name in pipeline statistics (and in its `AbortError`). */
  name?: string;
  /**
   * Stops the source: once it aborts, the stream fails with an `AbortError` naming the source,
   * and the teardown `setup` returned runs (and `sink.signal` aborts), as on unsubscribe.
   */
  signal?: AbortSignal;
}

/** The producer's side of a push source. */
export interface PushSink<T> {
  /** Hands one element to the pipeline (buffered while the stages below are full). */
  next(value: T): void;
  error(error: unknown): void;
  complete(): void;
  /** False once the buffer reached its high-water mark: a pausable producer should pause now. */
  readonly wantsMore: boolean;
  /** Calls `listener` whenever the buffer has drained below its mark after `wantsMore` went false. */
  onWantMore(listener: () => void): void;
  /** Resolves once `wantsMore` is true again (at once if it is). */
  whenWantsMore(): Promise<void>;
  /** Aborted on teardown: stop producing, close what you opened. */
  readonly signal: AbortSignal;
  /** This source's counters (add connector gauges to `stats.extra`). */
  readonly stats: StageStats;
}

/**
 * Builds a source from a producer that pushes (a socket, a broker client) and makes it obey
 * demand: a bounded buffer sits between the producer and the pipeline.
 *
 * ```
 * producer:  a b c d e f g           (pushes when it likes)
 * buffer:    [a b c d] full → wantsMore = false → producer pauses (or drops, by policy)
 * output:    -a---b---c---d--e-f-g-  (only while the stages below have room)
 * ```
 *
 * `setup` runs per subscription (cold) and returns its teardown, which runs on completion, error,
 * unsubscribe and when `options.signal` aborts. This is the contract every
 * connector implements: pull-based readers use {@link fromIterable}; push-based ones use this,
 * pausing their producer when `wantsMore` goes false.
 *
 * @example
 * ```ts
 * const lines$ = pushSource<string>((sink) => {
 *   socket.on('data', (chunk) => { for (const l of split(chunk)) sink.next(l); if (!sink.wantsMore) socket.pause(); });
 *   sink.onWantMore(() => socket.resume());
 *   return () => socket.destroy();
 * }, { highWaterMark: 256 });
 * ```
 */
export function pushSource<T>(
  setup: (sink: PushSink<T>) => (() => void) | void,
  options: PushSourceOptions = {},
): Observable<T> {
  const { overflow = 'pause', name = 'pushSource', maxHighWaterMark = AUTO_MAX_HIGH_WATER_MARK } = options;
  const auto = options.highWaterMark === 'auto';
  const fixed = options.highWaterMark === 'auto' ? maxHighWaterMark : options.highWaterMark ?? 256;
  if (!(fixed >= 1)) throw new RangeError(`pushSource: ${auto ? 'maxHighWaterMark' : 'highWaterMark'} must be >= 1, got ${fixed}`);
  const key = {};
  const source = scoped<T>((subscriber, below) => {
    // 'auto': the pipeline's tuner sets the mark (a pipeline without statistics gets its own).
    const tuning = auto ? tunedScope(below, key) : undefined;
    const scope = tuning?.scope ?? below;
    const stage = stageFor(scope.stats, key, name, 'source');
    const knob = tuning?.tuner.attach(key, stage, { kind: 'buffer', label: 'highWaterMark', min: 1, max: fixed, initial: Math.min(256, fixed) });
    let highWaterMark = knob ? knob.value : fixed;
    const abort = new AbortController();
    const listeners: (() => void)[] = [];
    /** The producer was told to pause and has not been woken yet. */
    let paused = false;
    let waiters: (() => void)[] = [];
    const drained = (): void => {
      if (knob) {
        knob.complete();
        knob.observe(0, 0, outbox.size);
      }
      if (!paused || outbox.size >= highWaterMark) return;
      paused = false;
      for (const listener of listeners) listener();
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    };
    const outbox = new Outbox<T>(subscriber, below, drained, stage);
    const offKnob = knob?.onChange((value) => {
      highWaterMark = value;
      if (outbox.size < value) drained();
    });
    const sink: PushSink<T> = {
      next(value) {
        if (subscriber.closed) return;
        stage.in++;
        if (outbox.size >= highWaterMark) {
          switch (overflow) {
            case 'drop-newest':
              stage.dropped++;
              return;
            case 'drop-oldest':
              stage.dropped++;
              outbox.dropOldest();
              break;
            case 'error':
              outbox.error(new LimitError(`${name}: buffer of ${highWaterMark} elements overflowed (overflow: 'error')`));
              return;
            case 'pause':
              break;
          }
        }
        knob?.sample(value);
        outbox.push(value);
        knob?.observe(0, 0, outbox.size);
        if (outbox.size >= highWaterMark) paused = true;
      },
      error: (error) => outbox.error(error),
      complete: () => outbox.complete(),
      get wantsMore() {
        return !subscriber.closed && outbox.size < highWaterMark;
      },
      onWantMore: (listener) => void listeners.push(listener),
      whenWantsMore() {
        if (this.wantsMore || subscriber.closed) return Promise.resolve();
        paused = true;
        return new Promise<void>((resolve) => waiters.push(resolve));
      },
      signal: abort.signal,
      stats: stage,
    };
    let teardown: (() => void) | void;
    try {
      teardown = setup(sink);
    } catch (error) {
      subscriber.error(error);
    }
    return () => {
      abort.abort();
      outbox.dispose();
      offKnob?.();
      if (knob) tuning!.tuner.detach(knob);
      for (const wake of waiters) wake();
      waiters = [];
      teardown?.();
    };
  });
  return withSignal(source, options.signal, name);
}
