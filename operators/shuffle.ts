import type { MonoTypeOperatorFunction } from 'rxjs';
import { Outbox, scoped, subscribeTied } from '../src/flow.js';
import { Mulberry32, mixSeed, randomSeed } from '../src/random.js';
import { Mirror, registerStage } from '../src/state/registry.js';
import { stageFor } from '../src/stats.js';

/** What `shuffle` saves in a pipeline checkpoint: its window (elements), the generator's state, and what is left of its final drain. */
interface ShuffleState<T> {
  readonly window: T[];
  readonly rng: number;
  readonly draining: boolean;
  readonly drain: T[];
}

export interface ShuffleOptions {
  /** Same seed, same order. Default: a random seed chosen when the operator is created. */
  seed?: number;
  /** Each new subscription (epoch) gets a new permutation. Default true. */
  reshuffleEachEpoch?: boolean;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * Shuffles through a window of `windowSize` elements, like tf.data's `shuffle(buffer_size)`:
 * fill the window, then for each new element emit a random one from the window and put the new
 * one in its place; on completion, drain the window in random order.
 *
 * ```
 * source:  -1-2-3-4-5-6-|         windowSize 3
 * output:  -------2-1-4-(6 3 5)|
 * ```
 *
 * A window as large as the data set gives a uniform permutation; a smaller one mixes locally
 * and holds at most `windowSize` elements. The order depends only on the seed and the epoch
 * (the number of subscriptions so far), so runs are reproducible.
 *
 * @example
 * ```ts
 * rows$.pipe(shuffle(10_000, { seed: 42 }), batch(32));
 * ```
 */
export function shuffle<T>(windowSize: number, options: ShuffleOptions = {}): MonoTypeOperatorFunction<T> {
  if (!(Number.isInteger(windowSize) && windowSize >= 1)) {
    throw new RangeError(`shuffle: windowSize must be an integer >= 1, got ${windowSize}`);
  }
  const { reshuffleEachEpoch = true } = options;
  const baseSeed = options.seed ?? randomSeed();
  const key = {};
  /** Subscriptions so far: the epoch number that picks each permutation. */
  let epoch = 0;
  return (source) =>
    scoped<T>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, options.name ?? 'shuffle', 'operator');
      // In a resumable pipeline: the epoch is the pipeline's, and the window, the generator's
      // state and the final drain are saved (see src/state/).
      const state = registerStage({
        kind: 'shuffle',
        name: stage.name,
        role: 'operator',
        save: (): ShuffleState<T> => ({ window: window.slice(), rng: rng.state, draining, drain: drained.values() }),
        held: () => window.length + drained.size,
      });
      const rng = new Mulberry32(reshuffleEachEpoch ? mixSeed(baseSeed, state ? state.epoch : epoch++) : baseSeed);
      const random = (): number => rng.next();
      /** The window: at most `windowSize` elements. */
      let window: T[] = [];
      /** The upstream completed: the window is being drained (mirrored in `drained` for a checkpoint). */
      let draining = false;
      const drained = new Mirror<T>();
      const restored = state?.restored as ShuffleState<T> | undefined;
      if (state) subscriber = state.emitter(subscriber, () => draining && drained.shift());
      /** Emits the final drain only as fast as the stages below take it. */
      const outbox = new Outbox<T>(subscriber, scope, undefined, stage);
      if (restored) {
        window = restored.window.slice();
        rng.state = restored.rng;
        draining = restored.draining;
        for (const v of restored.drain) {
          drained.push(v);
          outbox.push(v);
        }
      }
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          state?.received();
          stage.in++;
          if (window.length < windowSize) {
            window.push(value);
            stage.buffered(window.length);
            return;
          }
          const j = Math.floor(random() * windowSize);
          const out = window[j];
          window[j] = value;
          stage.out++;
          subscriber.next(out);
        },
        error: (error) => outbox.error(error),
        complete() {
          // Fisher–Yates over what is left, then hand it out under demand.
          const rest = window;
          window = [];
          for (let i = rest.length - 1; i > 0; i--) {
            const j = Math.floor(random() * (i + 1));
            const t = rest[i];
            rest[i] = rest[j];
            rest[j] = t;
          }
          draining = true;
          for (const v of rest) {
            if (state) drained.push(v);
            outbox.push(v);
          }
          outbox.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        outbox.dispose();
        window = [];
      };
    });
}
