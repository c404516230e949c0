import type { Observable } from 'rxjs';
import { Mulberry32, mixSeed, randomSeed } from '../src/random.js';
import { declareCardinality, cardinality, type Cardinality } from '../src/cardinality.js';
import { mix } from './chooseFromDatasets.js';

export interface SampleFromDatasetsOptions {
  /** Relative probability of each source (need not sum to 1). Default: uniform. */
  weights?: readonly number[];
  /** Same seed, same sequence of choices. Default: a random seed chosen when the source is created. */
  seed?: number;
  /**
   * `false` (default, as tf.data): when a source ends, keep sampling among the others (their
   * weights renormalised) until every source has ended. `true`: end when a chosen source has ended.
   */
  stopOnEmptyDataset?: boolean;
  /** A new sequence of choices on each subscription (epoch). Default false (as tf.data). */
  rerandomizeEachIteration?: boolean;
  /**
   * Elements held for a source that ignores demand (RxJS's \`from\`, a hot Subject) before the
   * stream fails with a \`LimitError\`. Default 10 000. Sources of ours never come near it.
   */
  maxBuffered?: number;
  /** The stage's name in pipeline statistics. */
  name?: string;
}

/**
 * Mixes sources at random: each element comes from source `i` with probability
 * `weights[i] / Σ weights` (tf.data's `sample_from_datasets`). Seeded, so a mix replays.
 *
 * ```
 * sources:  a0 a1 a2 …   b0 b1 …        weights [0.75, 0.25]
 * output:   -a0-a1-b0-a2-a3-a4-b1-a5-…  (about 3 a for each b)
 * ```
 *
 * Demand flows through: each element is drawn first and only the source drawn is asked for one
 * element, so an endless live source (Kafka) mixed with replayed files reads only its share.
 * Sources of ours are subscribed at once behind closed gates and read nothing until drawn. In
 * flight: one element (the one being handed on); a foreign source that ignores demand is buffered
 * as it pushes. When every source declares a cardinality and `stopOnEmptyDataset` is false, the
 * mix declares their sum. In a resumable pipeline (docs/resume.md) the generator's state and
 * each source's position are saved.
 *
 * @example
 * ```ts
 * sampleFromDatasets([replayed$, fromKafka(options)], { weights: [0.9, 0.1], seed: 7 });
 * ```
 */
export function sampleFromDatasets<T>(sources: readonly Observable<T>[], options: SampleFromDatasetsOptions = {}): Observable<T> {
  const name = options.name ?? 'sampleFromDatasets';
  const { stopOnEmptyDataset = false, rerandomizeEachIteration = false } = options;
  const weights = options.weights ?? sources.map(() => 1);
  if (weights.length !== sources.length) throw new RangeError(`${name}: ${weights.length} weights for ${sources.length} sources`);
  for (const [i, w] of weights.entries()) {
    if (!(Number.isFinite(w) && w >= 0)) throw new RangeError(`${name}: weights[${i}] must be a finite number >= 0, got ${w}`);
  }
  if (sources.length > 0 && !weights.some((w) => w > 0)) throw new RangeError(`${name}: at least one weight must be > 0`);
  const baseSeed = options.seed ?? randomSeed();
  /** Subscriptions so far: picks each iteration's sequence when rerandomising. */
  let iteration = 0;
  const mixed = mix(
    sources,
    (epoch) => {
      // In a resumable pipeline the iteration is the pipeline's epoch (a restored run picks the same sequence).
      const rng = new Mulberry32(rerandomizeEachIteration ? mixSeed(baseSeed, epoch ?? iteration++) : baseSeed);
      const random = (): number => rng.next();
      const choose = (ended: readonly boolean[]): number | undefined => {
        let total = 0;
        for (let i = 0; i < weights.length; i++) if (!ended[i]) total += weights[i];
        // Only zero-weight sources are left: nothing can be drawn any more.
        if (total === 0) return undefined;
        let r = random() * total;
        let last = -1;
        for (let i = 0; i < weights.length; i++) {
          if (ended[i] || weights[i] === 0) continue;
          last = i;
          if (r < weights[i]) return i;
          r -= weights[i];
        }
        // Rounding left r just past the last bucket.
        return last;
      };
      return { rng, choose };
    },
    stopOnEmptyDataset,
    name,
    options.maxBuffered,
  );
  if (stopOnEmptyDataset) return mixed;
  const sum = (counts: Cardinality[]): Cardinality => {
    // Sources of weight zero are never drawn: they do not count.
    const drawn = counts.filter((_, i) => weights[i] > 0);
    if (drawn.includes('unknown')) return 'unknown';
    if (drawn.includes('infinite')) return 'infinite';
    return (drawn as number[]).reduce((a, b) => a + b, 0);
  };
  // Lazy: sources that count remotely are asked only when someone wants to know.
  return declareCardinality(mixed, () => {
    const counts = sources.map((s) => cardinality(s));
    return counts.every((c) => typeof c !== 'object') ? sum(counts as Cardinality[]) : Promise.all(counts).then(sum);
  });
}
