/**
 * Where a shard left off: the last record its worker (an earlier run of it) wrote to the shard's
 * partition, found by reading the partition's tail backwards in growing windows.
 *
 * ```
 * partition p:  … ─ b e=1 s3 #4 ─ end e=1 s5 ─ b e=1 s3 #5 ─ end e=1 s7 │ high
 *                                              ▲ last own record: resume epoch 1 after seq 5
 * window: the last 2·shards+8 records, doubled until a record of the shard is found or the
 *         partition's start is reached
 * ```
 */
import { lastValueFrom, toArray } from 'rxjs';
import type { KafkaClientFactory, KafkaConnection } from '../client.js';
import { fromKafka } from '../fromKafka.js';
import { FLEET_HEADER, parseTag, type FleetTag } from './protocol.js';

/**
 * The last record shard `shard` wrote to `partition` of `topic` (its batches, and the end marker
 * it writes there last) and its offset, or undefined when it has written none.
 */
export async function lastOwnRecord(connection: KafkaConnection, clients: KafkaClientFactory, topic: string, partition: number, shard: number, shards: number): Promise<{ tag: FleetTag; offset: string } | undefined> {
  const admin = clients.admin(connection);
  await admin.connect();
  let offsets: { partition: number; low: string; high: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const mine = offsets.find((o) => o.partition === partition);
  if (!mine) return undefined;
  const low = BigInt(mine.low);
  const high = BigInt(mine.high);
  // Every other partition starts at its end: the bounded read takes nothing from them.
  const ends: Record<number, string> = {};
  for (const o of offsets) ends[o.partition] = o.high;
  let window = BigInt(2 * shards + 8);
  let to = high;
  while (to > low) {
    const from = to - window > low ? to - window : low;
    const records = await lastValueFrom(
      fromKafka({
        ...connection,
        topics: topic,
        mode: 'bounded',
        commit: 'none',
        start: { offsets: { [topic]: { ...ends, [partition]: from.toString() } } },
        name: 'fleet resume',
        clients,
      }).pipe(toArray()),
    );
    for (let i = records.length - 1; i >= 0; i--) {
      const r = records[i];
      if (r.partition !== partition || BigInt(r.offset) >= to) continue;
      const tag = parseTag(r.headers[FLEET_HEADER], `topic ${topic} partition ${partition} offset ${r.offset}`);
      // On its own partition a shard's end marker is its last write for the epoch; markers of
      // other shards broadcast here are theirs, not ours.
      if (tag.shard === shard) return { tag, offset: r.offset };
    }
    to = from;
    window *= 2n;
  }
  return undefined;
}
