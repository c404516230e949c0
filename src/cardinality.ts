/**
 * Cardinality: how many elements a cold source emits per subscription, when it knows.
 *
 * A source that knows its length (an array, a `range`, a file of fixed-length records, a bounded
 * Kafka read, a BigQuery table) declares it under a symbol-keyed property; operators of ours that
 * change the count derive theirs from their source's (`batch(B)`: ceil or floor of n / B,
 * `shard(k, i)`, `flatMap`: unknown). Everything else (ordinary RxJS operators included) reads as
 * `'unknown'`. Progress bars use it to show totals (`fit`), `toDataset` as the tfjs `size`.
 */
import { Observable, type MonoTypeOperatorFunction, type OperatorFunction } from 'rxjs';
import { subscribeTied } from './flow.js';

/** A known element count, `'infinite'` (an endless source), or `'unknown'`. */
export type Cardinality = number | 'infinite' | 'unknown';

/** What a source declares: a value, a Promise (counted remotely), or a function asked lazily. */
export type CardinalityInput = Cardinality | Promise<Cardinality> | (() => Cardinality | Promise<Cardinality>);

/** The property key sources of ours set on their Observable. */
export const CARDINALITY: unique symbol = Symbol.for('rxdata.cardinality');

interface WithCardinality {
  [CARDINALITY]?: CardinalityInput;
}

/**
 * The declared cardinality of `source$`: a value when it is known at once, a Promise when the
 * source counts elsewhere (`await` works on both). `'unknown'` when nothing was declared.
 *
 * @example
 * ```ts
 * cardinality(range(10).pipe(batch(4))); // 3
 * await cardinality(fromKafka({ ..., stopAtEnd: true })); // sum of end − start offsets
 * ```
 */
export function cardinality(source$: Observable<unknown>): Cardinality | Promise<Cardinality> {
  const declared = (source$ as WithCardinality)[CARDINALITY];
  if (declared === undefined) return 'unknown';
  if (typeof declared === 'function') {
    try {
      return declared();
    } catch {
      return 'unknown';
    }
  }
  return declared;
}

/**
 * The cardinality, waiting at most `timeoutMs` for a source that counts remotely (a Kafka admin
 * round trip, file sizes); `'unknown'` past that or on failure. What `fit` uses for its totals.
 */
export async function cardinalityWithin(source$: Observable<unknown>, timeoutMs = 2000): Promise<Cardinality> {
  const value = cardinality(source$);
  if (typeof value !== 'object') return value;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Cardinality>((resolve) => {
    timer = setTimeout(() => resolve('unknown'), timeoutMs);
    timer.unref();
  });
  try {
    return await Promise.race([value.catch((): Cardinality => 'unknown'), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The cardinality when it is known synchronously; `'unknown'` while it is only a Promise. */
export function cardinalitySync(source$: Observable<unknown>): Cardinality {
  const value = cardinality(source$);
  return typeof value === 'object' ? 'unknown' : value;
}

/**
 * Declares the cardinality of an Observable we just made (it must be fresh: the property is set
 * on it). Returns the same Observable.
 */
export function declareCardinality<O extends Observable<unknown>>(observable: O, value: CardinalityInput): O {
  Object.defineProperty(observable, CARDINALITY, { value, enumerable: false, configurable: true });
  return observable;
}

/** Applies `rule` to a cardinality, keeping `'unknown'`, and `'infinite'` unless `rule` decides. */
function derive(input: Cardinality, rule: (n: number) => Cardinality, infinite: Cardinality): Cardinality {
  if (input === 'unknown') return 'unknown';
  if (input === 'infinite') return infinite;
  return rule(input);
}

/**
 * Wraps an operator of ours so that its output declares a cardinality derived from its source's:
 * `rule(n)` for a known `n`, `infinite` (default `'infinite'`) for an endless source, `'unknown'`
 * otherwise. Used by `batch`, `shard`, `take`-like operators.
 */
export function derivesCardinality<T, R>(
  rule: (n: number) => Cardinality,
  operator: OperatorFunction<T, R>,
  infinite: Cardinality = 'infinite',
): OperatorFunction<T, R> {
  return (source) => {
    const out = operator(source);
    if ((source as WithCardinality)[CARDINALITY] === undefined) return out;
    // Lazy: a source that counts remotely (files, Kafka) is asked only when someone wants to know.
    const value = (): Cardinality | Promise<Cardinality> => {
      const input = cardinality(source);
      return typeof input === 'object' ? input.then((c) => derive(c, rule, infinite)) : derive(input, rule, infinite);
    };
    // `out` may be a shared Observable a foreign operator returned as is: wrap rather than mutate.
    // Passing the Subscriber straight through adds no per-element cost.
    return declareCardinality(new Observable<R>((subscriber) => out.subscribe(subscriber)), value);
  };
}

/**
 * Declares that the stream has `expected` elements, and checks it: fails with a clear error when
 * the source ends early or emits more (tf.data's `assert_cardinality`). Use it after operators
 * whose effect on the count we cannot know (`filter`, a foreign source) when you know better.
 *
 * ```
 * source:                 -a-b-c-|
 * assertCardinality(3):   -a-b-c-|      cardinality 3
 * assertCardinality(2):   -a-b-X        "assertCardinality: more than 2 elements"
 * ```
 *
 * @example
 * ```ts
 * rows$.pipe(filter(valid), assertCardinality(60_000), batch(32)); // fit's bar shows /1875
 * ```
 */
export function assertCardinality<T>(expected: number | 'infinite'): MonoTypeOperatorFunction<T> {
  if (expected !== 'infinite' && !(Number.isInteger(expected) && expected >= 0)) {
    throw new RangeError(`assertCardinality: expected must be an integer >= 0 or 'infinite', got ${String(expected)}`);
  }
  return (source) =>
    declareCardinality(
      new Observable<T>((subscriber) => {
        let seen = 0;
        return subscribeTied(subscriber, source, {
          next(value) {
            seen++;
            if (expected !== 'infinite' && seen > expected) {
              subscriber.error(new RangeError(`assertCardinality: more than ${expected} elements`));
              return;
            }
            subscriber.next(value);
          },
          error: (error: unknown) => subscriber.error(error),
          complete() {
            if (expected === 'infinite') subscriber.error(new RangeError(`assertCardinality: an 'infinite' source ended after ${seen} elements`));
            else if (seen < expected) subscriber.error(new RangeError(`assertCardinality: expected ${expected} elements, the source ended after ${seen}`));
            else subscriber.complete();
          },
        });
      }),
      expected,
    );
}
