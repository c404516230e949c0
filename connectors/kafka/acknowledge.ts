import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { ackRecords, type Session } from './sessions.js';
import type { KafkaRecord } from './types.js';

/** What acknowledge() takes from each element: one record, several, or none. */
export type AckSelector<E> = (element: E) => KafkaRecord<unknown> | readonly KafkaRecord<unknown>[] | undefined;

const isRecord = (x: unknown): x is KafkaRecord<unknown> =>
  typeof x === 'object' && x !== null && typeof (x as KafkaRecord<unknown>).topic === 'string' && typeof (x as KafkaRecord<unknown>).offset === 'string';

/** By default an element is a record, or an array holding records (a batch of them). */
function defaultSelect<E>(element: E): readonly KafkaRecord<unknown>[] | undefined {
  if (Array.isArray(element)) return (element as unknown[]).filter(isRecord);
  return isRecord(element) ? [element] : undefined;
}

/**
 * Marks the Kafka records an element carries as done, so their offsets may be committed: put it
 * after the step that must finish first (the training sink). Elements pass through unchanged;
 * on completion it waits until the acknowledged offsets are committed.
 *
 * ```
 * fromKafka ─▶ bufferCount(32) ─▶ consume(train → records) ─▶ acknowledge() ─▶
 *                                                              │ ack(records)
 *                                    commit watermark per partition ◀─┘
 * ```
 *
 * @example
 * ```ts
 * kafka.pipe(bufferCount(32), consume(async (recs) => { await step(recs); return recs; }), acknowledge());
 * // or when the step emits something else: acknowledge((r: StepResult) => r.records)
 * ```
 */
export function acknowledge<E>(select?: AckSelector<E>): MonoTypeOperatorFunction<E> {
  return (source) =>
    new Observable<E>((subscriber) => {
      const sessions = new Set<Session>();
      const subscription = source.subscribe({
        next(element) {
          const records = select ? select(element) : defaultSelect(element);
          if (records) for (const s of ackRecords(records)) sessions.add(s);
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
