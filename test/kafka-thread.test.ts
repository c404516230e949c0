import test from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { concatMap, interval, lastValueFrom, map, of, take, takeUntil, tap, toArray, type Subscription } from 'rxjs';
import { PipelineStats, RxDataError, consume } from '../src/index.js';
import { acknowledge, fromKafka, kafkajsWorkerClients, type FetchedBatch, type KafkaRecord, type RawMessage, type ThreadConsumerClient } from '../connectors/kafka/index.js';
import { openClients } from '../connectors/kafka/openClients.js';
import { packMessages, unpackMessages } from '../connectors/kafka/thread/protocol.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { committedOffsets, eventually, fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

test('packed batches unpack to the same messages: null keys and values, headers, Buffers viewing one moved buffer', (t) => {
  const messages: RawMessage[] = [
    { key: Buffer.from('k0'), value: Buffer.from([1, 2, 3]), offset: '10', timestamp: '1764580000000', headers: {} },
    { key: null, value: Buffer.alloc(0), offset: '11', timestamp: '1764580000001' },
    { key: Buffer.from('k2'), value: null, offset: '12', timestamp: '1764580000002', headers: { trace: Buffer.from('abc'), kind: 'text', many: [Buffer.from('x'), 'y'] } },
  ];
  const packed = packMessages(messages);
  // What postMessage does to it: a structured clone, the two buffers moved.
  const crossed = structuredClone(packed, { transfer: [packed.bytes, packed.lengths.buffer as ArrayBuffer] });
  t.is(packed.bytes.byteLength, 0, 'the bytes were moved, not copied');
  const out = unpackMessages(crossed);
  t.is(out.length, 3);
  t.deepEqual(out.map((m) => [m.key?.toString() ?? null, m.value ? [...m.value] : null, m.offset, m.timestamp]), [
    ['k0', [1, 2, 3], '10', '1764580000000'],
    [null, [], '11', '1764580000001'],
    ['k2', null, '12', '1764580000002'],
  ]);
  t.true(Buffer.isBuffer(out[0].key) && Buffer.isBuffer(out[0].value));
  t.is(out[0].value!.buffer, out[0].key!.buffer, 'views of one buffer');
  t.is(out[0].headers, undefined, 'empty headers are not sent');
  const headers = out[2].headers!;
  t.true(Buffer.isBuffer(headers.trace));
  t.is(headers.trace!.toString(), 'abc');
  t.is(headers.kind, 'text');
  const many = headers.many as (Buffer | string)[];
  t.true(Buffer.isBuffer(many[0]));
  t.deepEqual(many.map(String), ['x', 'y']);
  t.deepEqual(unpackMessages(packMessages([])), []);
});

/** A fresh topic of `partitions` partitions holding `count` records (`produce`: JSON `{ i }`, key `i`). */
async function filledTopic(prefix: string, partitions: number, count: number): Promise<string> {
  const topic = uniqueName(prefix);
  await cluster.createTopic(topic, partitions, 1);
  await produce(cluster, topic, count, partitions);
  return topic;
}

const key = (r: KafkaRecord<Buffer>): string => `${r.partition}/${r.offset}/${r.key?.toString()}/${r.value.toString()}/${r.timestamp}`;

test.serial('on its thread the consumer reads what it reads on the main thread, with a timer firing and concatMap behind it', async (t) => {
  t.timeout(60_000);
  const topic = await filledTopic('thread-same', 2, 600);
  // Headers travel too.
  const kafka = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ key: 'h', value: 'with headers', partition: 0, headers: { trace: Buffer.from('t-1'), kind: 'x' } }] });
  await producer.disconnect();

  const main = await lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded' }).pipe(toArray()));
  let ticks = 0;
  const timer: Subscription = interval(5).subscribe(() => ticks++);
  const stats = new PipelineStats();
  const onThread = await lastValueFrom(
    fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', consumerThread: 'worker', name: 'kafka' }).pipe(
      // An ordinary buffering operator behind it, with an asynchronous inner.
      concatMap((r) => (Number(r.offset) % 50 === 0 ? new Promise<typeof r>((resolve) => setTimeout(() => resolve(r), 1)) : of(r))),
      consume((r) => r, { stats }),
      toArray(),
    ),
  );
  timer.unsubscribe();
  t.is(onThread.length, 601);
  t.deepEqual(onThread.map(key).sort(), main.map(key).sort());
  // Each partition in offset order.
  for (const p of [0, 1]) {
    const offsets = onThread.filter((r) => r.partition === p).map((r) => Number(r.offset));
    t.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  }
  const withHeaders = onThread.find((r) => r.key?.toString() === 'h')!;
  t.true(Buffer.isBuffer(withHeaders.headers.trace));
  t.is(String(withHeaders.headers.trace), 't-1');
  t.is(String(withHeaders.headers.kind), 'x');
  t.true(ticks > 0, 'the timer kept firing');
  t.true((stats.get('kafka')?.extra.fetchedBatches ?? 0) >= 2);
  t.true(await eventually(() => openClients.consumer === 0), 'the consumer and its thread were closed');
});

test.serial('after-ack commits go through the thread: the watermark stops at the first unacknowledged record', async (t) => {
  t.timeout(60_000);
  const topic = await filledTopic('thread-ack', 2, 100);
  const groupId = uniqueName('g-thread-ack');
  const kafka = fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, mode: 'bounded', decode: 'json', start: 'earliest', ackGraceMs: 300, consumerThread: 'worker' });
  await lastValueFrom(kafka.pipe(consume(async (r) => r), acknowledge((r) => (r.value.i < 60 ? r : undefined)), toArray()));
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '30', 1: '30' });
  // The next subscription starts there.
  const rest = await lastValueFrom(fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, mode: 'bounded', decode: 'json', commit: 'none', consumerThread: 'worker' }).pipe(toArray()));
  t.deepEqual(rest.map((r) => r.value.i).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => 60 + i));
  t.true(await eventually(() => openClients.consumer === 0), 'both consumers and their threads were closed');
});

test.serial('two thread consumers in one group: a rebalance mid-read loses nothing', async (t) => {
  t.timeout(90_000);
  const topic = await filledTopic('thread-group', 4, 2000);
  const groupId = uniqueName('g-thread-group');
  const seen = new Set<string>();
  const member = (slowMs: number): Promise<KafkaRecord<Buffer>[]> =>
    lastValueFrom(
      fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, idleTimeoutMs: 4000, highWaterMark: 16, consumerThread: 'worker', fetchAhead: 2 }).pipe(
        // Slow enough that the second member joins while the first is mid-read, with batches ahead.
        concatMap(async (r) => {
          if (slowMs > 0) await new Promise((resolve) => setTimeout(resolve, slowMs));
          seen.add(`${r.partition}/${r.offset}`);
          return r;
        }),
        acknowledge(),
        toArray(),
      ),
    );
  const first = member(5);
  t.true(await eventually(() => seen.size >= 100, 20_000), 'the first member is reading');
  const [a, b] = await Promise.all([first, member(0)]);
  t.log(`first member ${a.length} records, second ${b.length}`);
  // At-least-once: what moved to the second member before the first committed it is read twice.
  t.true(b.length > 0, 'the second member got partitions in the rebalance');
  t.is(seen.size, 2000, 'every record was read by one member or the other');
  // Batches the thread read ahead for a partition that moved, or from before a re-seek, were
  // dropped as stale: had any been dropped without a re-read, a record would be missing above.
  const committed = await committedOffsets(cluster, groupId, topic);
  t.deepEqual(Object.keys(committed).sort(), ['0', '1', '2', '3']);
  for (const offset of Object.values(committed)) t.true(Number(offset) > 0 && Number(offset) <= 500, `committed ${offset}`);
  t.true(await eventually(() => openClients.consumer === 0), 'both consumers and their threads were closed');
});

test.serial('credit bounds what the thread hands over: with the first batch held, it stops at fetchAhead batches', async (t) => {
  t.timeout(60_000);
  const topic = await filledTopic('thread-credit', 4, 4000);
  t.true(await eventually(() => openClients.consumer === 0), 'no consumer left open by an earlier test');
  const consumer = kafkajsWorkerClients({ fetchAhead: 2, heartbeatMs: 200 }).consumer({ brokers: cluster.bootstrap, logLevel: 'nothing' }, { groupId: uniqueName('g-credit'), ...fastGroup }) as ThreadConsumerClient;
  const handed: FetchedBatch[] = [];
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let joined = false;
  consumer.onGroupJoin(() => (joined = true));
  try {
    await consumer.connect();
    t.is(openClients.consumer, 1);
    await consumer.subscribe([topic]);
    await consumer.run(async (batch) => {
      handed.push(batch);
      await held;
    });
    t.true(await eventually(() => joined && handed.length === 1, 15_000), 'the first batch arrived');
    // The thread fetches on while it has credit, then waits (heartbeating): give it time to overrun.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    t.is(handed.length, 1, 'the reader holds one batch; the next waits behind it');
    t.is(consumer.batchesAhead, 2, 'the thread handed over fetchAhead batches and fetched no more (4 partitions, 4,000 records were there)');
    t.true(handed[0].isActive());
    // Released, the held batches flow and the thread fetches again.
    release();
    t.true(await eventually(() => handed.length >= 4, 15_000), `handed ${handed.length}`);
    t.true(consumer.batchesAhead <= 2);
  } finally {
    release();
    await consumer.disconnect();
  }
  t.is(openClients.consumer, 0, 'disconnect closed it');
  t.false(handed[0].isActive(), 'a disconnected consumer has no live batches');
  await t.throwsAsync(consumer.commitOffsets([{ topic, partition: 0, offset: '1' }]), { instanceOf: RxDataError, message: /consumer thread has stopped/ });
});

test('options that cannot run on a thread are refused, naming why', async (t) => {
  t.throws(() => fromKafka({ brokers: cluster.bootstrap, topics: 'x', consumerThread: 'worker', clients: kafkajsWorkerClients() }), { instanceOf: TypeError, message: /cannot run the `clients` given/ });
  t.throws(() => fromKafka({ brokers: cluster.bootstrap, topics: 'x', fetchAhead: 2 }), { instanceOf: TypeError, message: /fetchAhead applies to consumerThread 'worker' only/ });
  t.throws(() => kafkajsWorkerClients({ fetchAhead: 0 }), { instanceOf: RangeError });
  // A function does not clone to a thread: the subscription fails with the reason.
  const error = await t.throwsAsync(
    lastValueFrom(fromKafka({ brokers: cluster.bootstrap, topics: 'x', consumerThread: 'worker', retry: { retries: 1, restartOnFailure: async () => true } })),
  );
  t.regex(error?.message ?? '', /consumerThread 'worker' sends the connection settings to a thread, and they do not clone/);
});

test.serial('a cluster that dies under a consumer thread ends the source with an error naming the brokers', async (t) => {
  t.timeout(40_000);
  const topic = await filledTopic('thread-dies', 1, 50);
  const quickRetry = { retry: { initialRetryTime: 50, maxRetryTime: 200, retries: 2 }, connectionTimeout: 300 };
  let received = 0;
  try {
    const error = await t.throwsAsync(
      lastValueFrom(
        fromKafka({ ...fastGroup, ...quickRetry, brokers: cluster.bootstrap, topics: topic, retryBudgetMs: 1500, consumerThread: 'worker' }).pipe(
          tap(() => {
            if (++received === 50) void cluster.brokerDown(1);
          }),
        ),
      ),
      { instanceOf: RxDataError },
    );
    t.is(received, 50);
    t.is(error?.origin, `kafka ${cluster.bootstrap}`);
    t.regex(error?.message ?? '', /fromKafka: consumer failed: gave up after [\d.]+ s of failures/);
    t.true(await eventually(() => openClients.consumer === 0), 'the consumer thread was closed');
  } finally {
    await cluster.brokerUp(1);
  }
});

test.serial('unsubscribing mid-stream stops the thread', async (t) => {
  t.timeout(60_000);
  const topic = await filledTopic('thread-stop', 2, 2000);
  const stop = interval(10_000);
  const got = await lastValueFrom(
    fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, consumerThread: 'worker', highWaterMark: 32 }).pipe(
      map((r) => r.offset),
      take(100),
      takeUntil(stop),
      toArray(),
    ),
  );
  t.is(got.length, 100);
  t.true(await eventually(() => openClients.consumer === 0), 'the consumer thread was closed');
});
