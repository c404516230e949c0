import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { subscribeTied } from '../src/flow.js';
import { Mulberry32, randomSeed } from '../src/random.js';
import { registerStage } from '../src/state/registry.js';

export interface RejectionResampleOptions {
  /** The class distribution of the input, when known. Default: estimated online from the classes seen. */
  initialDist?: readonly number[];
  /** Same seed, same elements kept. Default: a random seed chosen when the operator is created. */
  seed?: number;
}

/** Checks a distribution and normalises it to sum 1. */
function normalise(dist: readonly number[], what: string): number[] {
  if (dist.length === 0) throw new RangeError(`rejectionResample: ${what} is empty`);
  let sum = 0;
  for (const [i, p] of dist.entries()) {
    if (!(Number.isFinite(p) && p >= 0)) throw new RangeError(`rejectionResample: ${what}[${i}] must be a finite number >= 0, got ${p}`);
    sum += p;
  }
  if (sum === 0) throw new RangeError(`rejectionResample: ${what} sums to 0`);
  return dist.map((p) => p / sum);
}

/**
 * Drops elements at random so that the classes of what passes follow `targetDist` (tf.data's
 * `rejection_resample`): class balancing for skewed streams.
 *
 * ```
 * classes in:  a a a a b a a a b a a c …      (70 % a, 20 % b, 10 % c)
 * target:      [1/3, 1/3, 1/3]
 * out:         a - - - b - - - b - - c …      (a kept with probability 1/7, b 1/2, c 1)
 * ```
 *
 * An element of class `c` is kept with probability `r_c / max r`, where `r_c = target_c /
 * initial_c`: what passes then follows the target exactly, and the class that is rarest relative
 * to the target is never dropped (no single-pass filter keeps more). Without `initialDist`, the
 * input distribution is estimated online from the classes seen so far (counts start at 1 per
 * class), so the first elements follow the target only roughly. A pass-through stage: it holds
 * nothing, and asks upstream for the next element after each dropped one. In a resumable
 * pipeline (docs/resume.md) the generator's state and the class counts are saved.
 *
 * Unlike tf.data, it emits the elements themselves, not `(class, element)` pairs, and reads the
 * input once (tf.data mixes a second, unfiltered read of the input to drop less).
 *
 * @example
 * ```ts
 * rows$.pipe(rejectionResample((r) => r.label, [0.5, 0.5], { seed: 1 }), batch(32));
 * ```
 */
export function rejectionResample<T>(
  classFn: (value: T) => number,
  targetDist: readonly number[],
  options: RejectionResampleOptions = {},
): MonoTypeOperatorFunction<T> {
  const target = normalise(targetDist, 'targetDist');
  const classes = target.length;
  const initial = options.initialDist ? normalise(options.initialDist, 'initialDist') : undefined;
  if (initial && initial.length !== classes) {
    throw new RangeError(`rejectionResample: initialDist has ${initial.length} classes, targetDist ${classes}`);
  }
  const seed = options.seed ?? randomSeed();
  /** Acceptance probabilities for a given input distribution. */
  const acceptance = (dist: readonly number[]): number[] => {
    // A class never seen in the input has an infinite ratio: it is always kept.
    const ratios = target.map((t, c) => (dist[c] > 0 ? t / dist[c] : t > 0 ? Infinity : 0));
    const max = Math.max(...ratios.filter(Number.isFinite), 0);
    return ratios.map((r) => (r === Infinity ? 1 : max > 0 ? r / max : 0));
  };
  const fixed = initial ? acceptance(initial) : undefined;
  return (source) =>
    new Observable<T>((subscriber) => {
      const rng = new Mulberry32(seed);
      /** Online estimate: elements seen per class (Laplace prior of 1). */
      let counts = new Array<number>(classes).fill(1);
      let seen = classes;
      let index = 0;
      const state = registerStage({ kind: 'rejectionResample', name: 'rejectionResample', role: 'operator', save: () => ({ rng: rng.state, counts: counts.slice(), seen, index }) });
      if (state) {
        const restored = state.restored as { rng: number; counts: number[]; seen: number; index: number } | undefined;
        if (restored) {
          rng.state = restored.rng;
          counts = restored.counts.slice();
          ({ seen, index } = restored);
        }
        subscriber = state.emitter(subscriber);
      }
      const out = subscriber;
      return subscribeTied(out, source, {
        next(value) {
          state?.received();
          const i = index++;
          let c: number;
          try {
            c = classFn(value);
          } catch (error) {
            out.error(error);
            return;
          }
          if (!(Number.isInteger(c) && c >= 0 && c < classes)) {
            out.error(new RangeError(`rejectionResample: element #${i} has class ${String(c)}, not an integer in [0, ${classes})`));
            return;
          }
          let accept: number;
          if (fixed) accept = fixed[c];
          else {
            counts[c]++;
            seen++;
            accept = acceptance(counts.map((n) => n / seen))[c];
          }
          if (rng.next() < accept) out.next(value);
        },
        error: (error) => out.error(error),
        complete: () => out.complete(),
      });
    });
}
