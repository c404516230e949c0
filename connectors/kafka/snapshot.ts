/**
 * Where a subscription reads each partition from and (bounded mode) to: the topic list resolved
 * (patterns matched), then per partition the offset `start` resolves to and the high-water mark
 * at this moment. `fromKafka` and the bounded cardinality count read the same snapshot.
 *
 * ```
 * topics ──listTopics (patterns)──▶ names ──fetchTopicOffsets / committed / by timestamp──▶ [{ topic, partition, from, end }]
 * ```
 */
import type { AdminClient } from './client.js';
import type { KafkaStart } from './types.js';

/** One partition of the snapshot: read from `from` (inclusive) up to `end` (exclusive, the high-water mark). */
export interface PartitionSpan {
  readonly topic: string;
  readonly partition: number;
  readonly low: bigint;
  readonly from: bigint;
  readonly end: bigint;
}

/** The topic names `topics` name or match (patterns against the cluster's topic list). */
export async function topicNames(admin: AdminClient, topics: readonly (string | RegExp)[]): Promise<Set<string>> {
  const all = topics.some((t) => t instanceof RegExp) ? await admin.listTopics() : [];
  const names = new Set<string>();
  for (const t of topics) {
    if (typeof t === 'string') names.add(t);
    else for (const name of all) if (t.test(name)) names.add(name);
  }
  return names;
}

/** Every partition of `topic` with its start (as `start` resolves it for `groupId`) and end. */
export async function partitionSpans(admin: AdminClient, topic: string, start: KafkaStart, groupId: string | undefined): Promise<PartitionSpan[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const committed = start === 'committed' && groupId ? await admin.fetchCommittedOffsets(groupId, topic) : [];
  const byTime = typeof start === 'object' && 'timestamp' in start ? await admin.fetchTopicOffsetsByTimestamp(topic, start.timestamp) : [];
  return offsets.map(({ partition, low, high }) => {
    const end = BigInt(high);
    let from = BigInt(low);
    if (start === 'latest') from = end;
    else if (start === 'committed') {
      const c = committed.find((e) => e.partition === partition);
      if (c && BigInt(c.offset) >= 0n) from = BigInt(c.offset);
    } else if (typeof start === 'object' && 'timestamp' in start) {
      const e = byTime.find((x) => x.partition === partition);
      // -1: no message at or after the timestamp, so start at the end.
      from = e && BigInt(e.offset) >= 0n ? BigInt(e.offset) : end;
    } else if (typeof start === 'object') {
      const o = start.offsets[topic]?.[partition];
      if (o !== undefined) from = BigInt(o);
    }
    return { topic, partition, low: BigInt(low), from, end };
  });
}
