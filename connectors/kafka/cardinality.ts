/** Cardinality of a bounded Kafka read: Σ (end − start) offsets over the partitions of its topics. */
import type { Cardinality } from '../../src/cardinality.js';
import type { KafkaClientFactory, KafkaConnection } from './client.js';
import type { KafkaStart } from './fromKafka.js';

/** What the count needs from `fromKafka`'s options. */
export interface BoundedCountOptions extends KafkaConnection {
  readonly topics: readonly (string | RegExp)[];
  readonly groupId?: string;
  readonly start: KafkaStart;
  readonly clients: KafkaClientFactory;
}

/**
 * Records a bounded subscription made now would read: per partition, the high-water mark minus
 * the offset `start` resolves to (the same rules as `fromKafka`). Offsets count records only
 * when nothing is compacted away and no transaction markers sit in the range: otherwise this is
 * an upper bound. Counts every partition, so with several consumers sharing a group, each reads
 * a share of it.
 */
export async function countBoundedKafka(options: BoundedCountOptions): Promise<Cardinality> {
  const { start, clients } = options;
  const admin = clients.admin(options);
  await admin.connect();
  try {
    const all = options.topics.some((t) => t instanceof RegExp) ? await admin.listTopics() : [];
    const names = new Set<string>();
    for (const t of options.topics) {
      if (typeof t === 'string') names.add(t);
      else for (const name of all) if (t.test(name)) names.add(name);
    }
    let total = 0n;
    for (const topic of names) {
      const offsets = await admin.fetchTopicOffsets(topic);
      const committed = start === 'committed' && options.groupId ? await admin.fetchCommittedOffsets(options.groupId, topic) : [];
      const byTime = typeof start === 'object' && 'timestamp' in start ? await admin.fetchTopicOffsetsByTimestamp(topic, start.timestamp) : [];
      for (const { partition, low, high } of offsets) {
        const end = BigInt(high);
        let from = BigInt(low);
        if (start === 'latest') from = end;
        else if (start === 'committed') {
          const c = committed.find((e) => e.partition === partition);
          if (c && BigInt(c.offset) >= 0n) from = BigInt(c.offset);
        } else if (typeof start === 'object' && 'timestamp' in start) {
          const e = byTime.find((x) => x.partition === partition);
          from = e && BigInt(e.offset) >= 0n ? BigInt(e.offset) : end;
        } else if (typeof start === 'object') {
          const o = start.offsets[topic]?.[partition];
          if (o !== undefined) from = BigInt(o);
        }
        if (end > from) total += end - from;
      }
    }
    return Number(total);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
