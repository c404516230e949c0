/**
 * How `acknowledge()` finds the subscription a record came from: each record emitted for
 * after-ack commits is registered with its subscription (a {@link Session}).
 */
import type { KafkaRecord } from './types.js';

/** What acknowledge() needs of a subscription (internal). */
export interface Session {
  ack(topic: string, partition: number, offset: bigint): void;
  /** Commits acknowledged offsets; after teardown, waits for the final commit and disconnect. */
  flush(): Promise<void>;
}

/** The subscription a record came from, so that acks find their tracker. */
const owners = new WeakMap<object, Session>();

/** Registers `record` as emitted by `session`, to be acknowledged. */
export function own(record: object, session: Session): void {
  owners.set(record, session);
}

/** Acknowledges records from any fromKafka source (a record not from one is ignored). */
export function ackRecords(records: KafkaRecord<unknown> | readonly KafkaRecord<unknown>[]): Set<Session> {
  const touched = new Set<Session>();
  const list = Array.isArray(records) ? (records as readonly KafkaRecord<unknown>[]) : [records as KafkaRecord<unknown>];
  for (const record of list) {
    const session = owners.get(record);
    if (!session) continue;
    session.ack(record.topic, record.partition, BigInt(record.offset));
    touched.add(session);
  }
  return touched;
}
