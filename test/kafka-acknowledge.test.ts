/**
 * Acknowledgement by position: what users derive from a record (copies, values, batches of
 * values) still commits; what carries no position is an error, never a silent stop of commits;
 * a refused final commit is retried within the budget and fails naming its offsets. Also the
 * source's AbortSignal, and what `rxdata/kafka` exports.
 */
import test from 'ava';
import { bufferCount, lastValueFrom, map, take, toArray } from 'rxjs';
import { AbortError, PipelineStats, RxDataError, consume } from '../src/index.js';
import { batch } from '../operators/batch.js';
import * as kafkaExports from '../connectors/kafka/index.js';
import { acknowledge, fromKafka, type FromKafkaOptions } from '../connectors/kafka/index.js';
import { kafkajsClients } from '../connectors/kafka/client.js';
import { openClients } from '../connectors/kafka/openClients.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { committedOffsets, eventually, fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

/** Kafka API key of OffsetCommit, and an error code kafkajs does not retry on its own. */
const OFFSET_COMMIT = 8;
const OFFSET_METADATA_TOO_LARGE = 12;

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

/** A topic of `n` JSON records `{ i }` over `partitions` partitions, and a bounded after-ack source on it. */
async function setup(n: number, partitions: number, extra: Partial<FromKafkaOptions<{ i: number }>> = {}) {
  const topic = uniqueName('ack');
  const groupId = uniqueName('g-ack');
  await cluster.createTopic(topic, partitions, 1);
  await produce(cluster, topic, n, partitions);
  const options = { ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, mode: 'bounded', start: 'earliest', ackGraceMs: 300, ...extra } as const;
  const kafka = fromKafka<{ i: number }>({ ...options, decode: 'json' });
  return { topic, groupId, kafka, options };
}

// First of the serial tests: no other subscription of this process awaits acknowledgements yet.
test.serial("without a subscription awaiting acknowledgements (commit: 'none'), values pass acknowledge()", async (t) => {
  const { kafka } = await setup(10, 1, { commit: 'none' });
  t.is((await lastValueFrom(kafka.pipe(map((r) => r.value.i), acknowledge(), take(10), toArray()))).length, 10);
});

// Serial: the refused commits are queued cluster-wide, so no other test may commit meanwhile
// (ava runs serial tests before the concurrent ones).
test.serial('a refused final commit is retried: acknowledge() completes once the offsets are committed', async (t) => {
  // No periodic commit: the only commits are the ones the completion waits on.
  const { topic, groupId, kafka } = await setup(20, 1, { commitIntervalMs: 60_000, retry: { initialRetryTime: 50, maxRetryTime: 200, retries: 1 }, retryBudgetMs: 20_000 });
  await cluster.failRequests(OFFSET_COMMIT, 3, OFFSET_METADATA_TOO_LARGE);
  const stats = new PipelineStats();
  try {
    const out = await lastValueFrom(kafka.pipe(consume(async (r) => r, { stats }), acknowledge(), toArray()));
    t.is(out.length, 20);
    t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '20' }, 'committed before acknowledge() completed');
    t.is(stats.get('kafka')?.extra.commitErrors, 3, 'three refusals, then the commit that went through');
  } finally {
    await cluster.clearRequestErrors(OFFSET_COMMIT);
  }
});

test.serial('a final commit refused past the retry budget fails acknowledge() naming topic, partition and offset', async (t) => {
  const { topic, groupId, kafka } = await setup(10, 1, { commitIntervalMs: 60_000, retry: { initialRetryTime: 50, maxRetryTime: 100, retries: 1 }, retryBudgetMs: 600 });
  await cluster.failRequests(OFFSET_COMMIT, 10_000, OFFSET_METADATA_TOO_LARGE);
  try {
    const error = await t.throwsAsync(lastValueFrom(kafka.pipe(consume(async (r) => r), acknowledge(), toArray())), { instanceOf: RxDataError });
    t.regex(error?.message ?? '', new RegExp(`fromKafka: cannot commit topic ${topic} partition 0 offset 10 for group ${groupId}: refused \\d+ times in [\\d.]+ s \\(retryBudgetMs 600\\)`));
    t.is(error?.origin, `kafka ${cluster.bootstrap}`);
  } finally {
    await cluster.clearRequestErrors(OFFSET_COMMIT);
  }
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '-1' });
});

test.serial('aborting the signal fails the source with an AbortError and disconnects the consumer', async (t) => {
  const topic = uniqueName('abort');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 50, 1);
  const controller = new AbortController();
  let seen = 0;
  const error = await t.throwsAsync(
    lastValueFrom(
      fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'streaming', highWaterMark: 4, signal: controller.signal }).pipe(
        consume(async (r) => {
          if (++seen === 5) controller.abort(new Error('stop now'));
          return r;
        }),
      ),
    ),
    { instanceOf: AbortError },
  );
  t.regex(error?.message ?? '', new RegExp(`fromKafka\\(${topic}\\): aborted`));
  t.true(await eventually(() => openClients.consumer === 0 && openClients.admin === 0, 10_000), JSON.stringify(openClients));
});

test('spread copies of records acknowledge by their topic, partition and offset', async (t) => {
  const { topic, groupId, kafka } = await setup(60, 2);
  const out = await lastValueFrom(
    kafka.pipe(
      map((r) => ({ ...r, value: r.value.i * 2 })),
      consume(async (r) => r),
      acknowledge(),
      toArray(),
    ),
  );
  t.is(out.length, 60);
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '30', 1: '30' });
});

test('values only: map(r => r.value) keeps the position the decoded object carries', async (t) => {
  const { topic, groupId, kafka } = await setup(40, 2);
  const values = await lastValueFrom(kafka.pipe(map((r) => r.value), consume(async (v) => v), acknowledge(), toArray()));
  t.deepEqual(values.map((v) => v.i).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i));
  // The position is hidden: the values print, spread and serialise as the decoded JSON.
  t.deepEqual(Object.keys(values[0]), ['i']);
  t.is(JSON.stringify(values[0]), `{"i":${values[0].i}}`);
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '20', 1: '20' });
});

test('batched values: map(r => r.value) → batch() → train → acknowledge() commits every batch', async (t) => {
  const { topic, groupId, kafka } = await setup(50, 2);
  const batches = await lastValueFrom(
    kafka.pipe(
      map((r) => r.value),
      batch(8),
      consume(async (b) => b),
      acknowledge(),
      toArray(),
    ),
  );
  t.is(batches.reduce((n, b) => n + b.i.shape[0], 0), 50);
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '25', 1: '25' });
});

test('bufferCount arrays of copies, and a selector returning positions, acknowledge too', async (t) => {
  const { topic, groupId, kafka } = await setup(30, 1);
  await lastValueFrom(
    kafka.pipe(
      map((r) => ({ x: r.value.i, at: { topic: r.topic, partition: r.partition, offset: r.offset } })),
      bufferCount(7),
      consume(async (rows) => ({ loss: rows.length, positions: rows.map((r) => r.at) })),
      acknowledge((step) => step.positions),
      toArray(),
    ),
  );
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '30' });
});

test('an element that carries no position fails the stream saying why, instead of silently stopping commits', async (t) => {
  const { kafka } = await setup(10, 1);
  const primitive = await t.throwsAsync(lastValueFrom(kafka.pipe(map((r) => r.value.i), acknowledge())), { instanceOf: RxDataError });
  t.regex(primitive?.message ?? '', /acknowledge: an element carries no Kafka position: it is a number \(a primitive value cannot carry its record's position\)/);
  const rebuilt = await t.throwsAsync(lastValueFrom(kafka.pipe(map((r) => ({ doubled: r.value.i * 2 })), acknowledge())), { instanceOf: RxDataError });
  t.regex(rebuilt?.message ?? '', /an object with keys \[doubled\] that is neither a record, a position nor a value or batch of values fromKafka emitted/);
  t.regex(rebuilt?.message ?? '', /pass a selector that returns them/);
});

test('a value object several messages decoded to names no position: acknowledging it is an error', async (t) => {
  const shared = { same: true };
  const { options } = await setup(5, 1);
  const kafka = fromKafka({ ...options, decode: () => shared });
  const error = await t.throwsAsync(lastValueFrom(kafka.pipe(map((r) => r.value), acknowledge())), { instanceOf: RxDataError });
  t.regex(error?.message ?? '', /a value object stands for several Kafka records/);
});

test('rxdata/kafka exports no test counters', (t) => {
  t.false('openClients' in kafkaExports);
});

test('a commit kafkajs does not send (its runner stopped, waiting for the batch in hand) rejects instead of counting as done', async (t) => {
  const topic = uniqueName('unsent');
  const groupId = uniqueName('g-unsent');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 5, 1);
  // kafkajs' runner is stopped but not gone while it waits for the batch in hand, as it stops
  // after a crash or on disconnect; a started or restarted runner is not running either while it
  // joins the group. kafkajs' own commitOffsets then resolves without sending anything.
  const consumer = kafkajsClients.consumer(
    { brokers: cluster.bootstrap, logLevel: 'nothing' },
    { groupId, sessionTimeout: fastGroup.sessionTimeout, rebalanceTimeout: fastGroup.rebalanceTimeout, heartbeatInterval: fastGroup.heartbeatInterval, maxWaitTimeInMs: 100 },
  );
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let batches = 0;
  let stopping: Promise<void> | undefined;
  await consumer.connect();
  try {
    await consumer.subscribe([topic]);
    await consumer.run(async () => {
      if (++batches === 1) await held;
    });
    t.true(await eventually(() => batches === 1, 20_000), 'the consumer fetched');
    await consumer.commitOffsets([{ topic, partition: 0, offset: '2' }]);
    t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '2' }, 'a running consumer commits');
    stopping = consumer.disconnect();
    const refused = await t.throwsAsync(consumer.commitOffsets([{ topic, partition: 0, offset: '5' }]));
    t.regex(refused?.message ?? '', /kafkajs did not send the commit: the consumer is not running/);
  } finally {
    release();
    await (stopping ?? consumer.disconnect());
  }
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '2' });
});
