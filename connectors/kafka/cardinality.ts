/** Cardinality of a bounded Kafka read: Σ (end − start) offsets over the partitions of its topics. */
import type { Cardinality } from '../../src/cardinality.js';
import type { KafkaClientFactory, KafkaConnection } from './client.js';
import { partitionSpans, topicNames } from './snapshot.js';
import type { KafkaStart } from './types.js';

/** What the count needs from `fromKafka`'s options. */
export interface BoundedCountOptions extends KafkaConnection {
  readonly topics: readonly (string | RegExp)[];
  readonly groupId?: string;
  readonly start: KafkaStart;
  readonly clients: KafkaClientFactory;
}

/**
 * Records a bounded subscription made now would read: per partition, the high-water mark minus
 * the offset `start` resolves to (the same rules as `fromKafka`, see snapshot.ts). Offsets count
 * records only when nothing is compacted away and no transaction markers sit in the range:
 * otherwise this is an upper bound. Counts every partition, so with several consumers sharing a
 * group, each reads a share of it.
 */
export async function countBoundedKafka(options: BoundedCountOptions): Promise<Cardinality> {
  const admin = options.clients.admin(options);
  await admin.connect();
  try {
    let total = 0n;
    for (const topic of await topicNames(admin, options.topics)) {
      for (const { from, end } of await partitionSpans(admin, topic, options.start, options.groupId)) if (end > from) total += end - from;
    }
    return Number(total);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
