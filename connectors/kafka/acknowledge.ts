import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { acknowledgeIn, type AckTarget, type Session } from './sessions.js';

/**
 * What acknowledge() takes from each element: records, copies of them, `{ topic, partition,
 * offset }` positions, values or batches carrying positions, or arrays of these; `undefined`
 * (or an empty array) for an element that acknowledges nothing.
 */
export type AckSelector<E> = (element: E) => AckTarget | undefined;

/**
 * Marks the Kafka records an element stands for as done, so their offsets may be committed: put
 * it after the step that must finish first (the training sink). Elements pass through unchanged;
 * on completion it waits until the acknowledged offsets are committed (retrying a refused commit
 * within `retryBudgetMs`, then failing with an error naming topic, partition and offset).
 *
 * Positions travel with what you derive from a record: a record or a spread copy of one, a
 * value `fromKafka` decoded to an object (`map(r => r.value)`), a batch of such values built by
 * `batch()`, `bufferCount` arrays of any of these. An element that carries none (a primitive
 * value, an object built after the source) fails the stream with an error saying so, rather
 * than leaving its offsets uncommitted: pass a selector that returns the records or positions.
 * Holds nothing beyond the element in hand.
 *
 * ```
 * fromKafka ─▶ map(r => r.value) ─▶ batch(32) ─▶ consume(train) ─▶ acknowledge() ─▶
 *                                                                   │ positions the batch carries
 *                                         commit watermark per partition ◀─┘
 * ```
 *
 * @example
 * ```ts
 * kafka.pipe(map((r) => r.value), batch(32), consume(async (b) => { await step(b); return b; }), acknowledge());
 * // or when the step emits something else, keep the positions beside it:
 * kafka.pipe(bufferCount(32), consume(async (records) => ({ loss: await step(records), records })), acknowledge((r) => r.records));
 * ```
 */
export function acknowledge<E>(select?: AckSelector<E>): MonoTypeOperatorFunction<E> {
  return (source) =>
    new Observable<E>((subscriber) => {
      const sessions = new Set<Session>();
      const subscription = source.subscribe({
        next(element) {
          try {
            const target = select ? select(element) : (element as AckTarget);
            if (target !== undefined) for (const s of acknowledgeIn(target)) sessions.add(s);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          subscriber.next(element);
        },
        error: (error: unknown) => subscriber.error(error),
        complete() {
          // Complete only once what was acknowledged is committed, so "done" means durable.
          Promise.all([...sessions].map((s) => s.flush())).then(
            () => subscriber.complete(),
            (error: unknown) => subscriber.error(error),
          );
        },
      });
      return () => subscription.unsubscribe();
    });
}
