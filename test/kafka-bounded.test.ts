import test from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { count, lastValueFrom, map, range, take, toArray } from 'rxjs';
import { RecordError, consume } from '../src/index.js';
import { fromKafka, toKafka, type KafkaRecord } from '../connectors/kafka/index.js';
import { openClients } from '../connectors/kafka/openClients.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { connectionsTo, eventually, fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

/** Checks every index 0..n-1 appears once and each partition's offsets ascend. */
function checkExactlyOnce(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void; true: (v: boolean, m?: string) => void }, records: KafkaRecord<{ i: number }>[], n: number): void {
  t.deepEqual(records.map((r) => r.value.i).sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  const last = new Map<number, bigint>();
  for (const r of records) {
    const prev = last.get(r.partition) ?? -1n;
    t.true(BigInt(r.offset) > prev, `partition ${r.partition} out of order at ${r.offset}`);
    last.set(r.partition, BigInt(r.offset));
  }
}

test('bounded: every record exactly once, per-partition order, and epochs replay the snapshot', async (t) => {
  const topic = uniqueName('bounded');
  await cluster.createTopic(topic, 4, 1);
  await produce(cluster, topic, 2000, 4);
  const source = fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: 'json' });
  const first = await lastValueFrom(source.pipe(toArray()));
  t.is(first.length, 2000);
  checkExactlyOnce(t, first, 2000);
  const r = first.find((x) => x.value.i === 5)!;
  t.is(r.topic, topic);
  t.is(r.partition, 1);
  t.is(r.key?.toString(), '5');
  t.is(typeof r.offset, 'string');
  t.regex(r.timestamp, /^\d+$/);

  // Records produced after the first epoch's snapshot show up in the next epoch only.
  await produce(cluster, topic, 8, 4);
  const second = await lastValueFrom(source.pipe(toArray()));
  t.is(second.length, 2008);
  const key = (x: KafkaRecord<unknown>): string => `${x.partition}:${x.offset}`;
  const secondKeys = new Set(second.map(key));
  t.true(first.every((x) => secondKeys.has(key(x))));
});

test('start positions: explicit offsets, latest, timestamp past the end; RegExp topics', async (t) => {
  const topic = uniqueName('start');
  await cluster.createTopic(topic, 2, 1);
  await produce(cluster, topic, 100, 2);
  const base = { ...fastGroup, brokers: cluster.bootstrap, mode: 'bounded' as const, decode: 'json' as const };
  const fromOffsets = await lastValueFrom(fromKafka<{ i: number }>({ ...base, topics: topic, start: { offsets: { [topic]: { 0: 40, 1: '49' } } } }).pipe(toArray()));
  t.is(fromOffsets.length, 10 + 1);
  const latest = await lastValueFrom(fromKafka({ ...base, topics: topic, start: 'latest' }).pipe(toArray()));
  t.is(latest.length, 0);
  const future = await lastValueFrom(fromKafka({ ...base, topics: topic, start: { timestamp: Date.now() + 60_000 } }).pipe(toArray()));
  t.is(future.length, 0);
  // librdkafka 2.0's mock answers every timestamp lookup with the end offsets, so only the
  // "after the last record" case can be checked against it.
  const byPattern = await lastValueFrom(fromKafka({ ...base, topics: new RegExp(`^${topic}$`) }).pipe(toArray()));
  t.is(byPattern.length, 100);
});

test('streaming mode completes after the idle timeout, and sees records produced while running', async (t) => {
  const topic = uniqueName('streaming');
  await cluster.createTopic(topic, 2, 1);
  await produce(cluster, topic, 50, 2);
  // highWaterMark below the 50 records already there: while the sink is busy producing the late
  // ones (a new client, however slow the machine), the source waits on demand, which is not
  // idleness; with a buffer that took all 50, the idle clock would run against that produce.
  const source = fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'streaming', idleTimeoutMs: 1500, highWaterMark: 8, decode: 'json' });
  let producedLate = false;
  const records = await lastValueFrom(
    source.pipe(
      consume(async (r) => {
        if (!producedLate) {
          producedLate = true;
          await produce(cluster, topic, 50, 2);
        }
        return r;
      }),
      toArray(),
    ),
  );
  t.is(records.length, 100);
});

test('a poison record fails the stream with a RecordError naming topic, partition and offset', async (t) => {
  const topic = uniqueName('poison-fail');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 10, 1, [6]);
  const error = await t.throwsAsync(lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: 'json' })));
  t.true(error instanceof RecordError);
  t.regex(error!.message, new RegExp(`topic ${topic} partition 0 offset 6`));
});

// Serial: ava runs serial tests before the concurrent ones, so no other test's clients are open.
test.serial('teardown disconnects every client and closes every connection (early unsubscribe and completion)', async (t) => {
  const topic = uniqueName('teardown');
  await cluster.createTopic(topic, 2, 1);
  await produce(cluster, topic, 500, 2);
  const source = fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'streaming', highWaterMark: 8 });
  t.is((await lastValueFrom(source.pipe(take(20), toArray()))).length, 20);
  t.true(await eventually(() => openClients.consumer === 0 && openClients.admin === 0 && openClients.producer === 0, 10_000), JSON.stringify(openClients));
  t.true(await eventually(() => connectionsTo(cluster) === 0, 10_000), `connections left: ${connectionsTo(cluster)}`);
  // Completion (bounded mode) and an error (a poison record) close everything too.
  t.is((await lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded' }).pipe(toArray()))).length, 500);
  await t.throwsAsync(lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: () => { throw new Error('bad'); } })));
  t.true(await eventually(() => openClients.consumer === 0 && openClients.admin === 0, 10_000), JSON.stringify(openClients));
  t.true(await eventually(() => connectionsTo(cluster) === 0, 10_000), `connections left: ${connectionsTo(cluster)}`);
});

test('toKafka round trip: batched sends, counts, keys and headers arrive', async (t) => {
  const topic = uniqueName('sink');
  await cluster.createTopic(topic, 3, 1);
  const results = await lastValueFrom(
    range(0, 1000).pipe(
      map((i) => ({ i })),
      toKafka({ brokers: cluster.bootstrap, topic, logLevel: 'nothing', batchSize: 300, encode: (v) => ({ key: String(v.i), value: JSON.stringify(v), headers: { kind: 'test' }, partition: v.i % 3 }) }),
      toArray(),
    ),
  );
  t.is(results.reduce((s, r) => s + r.count, 0), 1000);
  t.true(results.length >= 4);
  t.true(results.every((r) => r.count <= 300));
  const back = await lastValueFrom(fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: 'json' }).pipe(toArray()));
  checkExactlyOnce(t, back, 1000);
  t.is(back[0].headers.kind?.toString(), 'test');
  t.is(back.find((r) => r.value.i === 7)?.key?.toString(), '7');
  // Plain kafkajs sees them too.
  const admin = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  t.is(offsets.reduce((s, o) => s + Number(o.high), 0), 1000);
  t.is(await lastValueFrom(range(0, 0).pipe(toKafka({ brokers: cluster.bootstrap, topic }), count())), 0);
});
