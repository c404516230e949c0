import test from 'ava';
import { Kafka, logLevel } from 'kafkajs';
import { fileURLToPath } from 'node:url';
import { lastValueFrom, toArray } from 'rxjs';
import { AbortError, PipelineStats, RecordError, consume } from '../src/index.js';
import { acknowledge } from '../connectors/kafka/index.js';
import { openClients } from '../connectors/kafka/openClients.js';
import { encodeBatch } from '../src/fleet/codec.js';
import { FLEET_HEADER, epochTopicOf, fromFleet, runWorker, type FleetEpochEnd, type FleetRecord } from '../connectors/kafka/fleet/index.js';
import { kafkajsClients, type KafkaClientFactory } from '../connectors/kafka/client.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { committedOffsets, eventually, fastGroup, uniqueName } from './harness/kafka/helpers.js';
import type { HeadArgs } from './fixtures/fleet/head.js';

const head = fileURLToPath(new URL('./fixtures/fleet/head.ts', import.meta.url));
type Batch = { id: { data: Int32Array; shape: number[] }; x: { data: Float32Array; shape: number[] } };
const { logLevel: quiet, ...group } = fastGroup;

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

const kafka = (): { brokers: string; logLevel: typeof quiet } => ({ brokers: cluster.bootstrap, logLevel: quiet });
const ids = (r: FleetRecord<Batch>): number[] => Array.from(r.value.id.data);

/** Each epoch's ids, sorted, from trained records. */
function byEpoch(records: readonly FleetRecord<Batch>[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of records) {
    const list = out.get(r.fleet.epoch) ?? [];
    list.push(...ids(r));
    out.set(r.fleet.epoch, list);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}
const all = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

async function highWatermarks(topic: string): Promise<number> {
  const admin = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
  } finally {
    await admin.disconnect();
  }
}

test.serial('three workers, one trainer: every element exactly once per epoch, each epoch reported complete, offsets committed', async (t) => {
  const topic = uniqueName('fleet');
  const groupId = uniqueName('trainers');
  await cluster.createTopic(topic, 3, 1);
  const args: HeadArgs = { elements: 60, batchSize: 4 };
  const reports = await Promise.all([0, 1, 2].map((index) => runWorker(head, { kafka: kafka(), topic, shard: { index, count: 3 }, args, epochs: 2 })));
  t.deepEqual(reports.map((r) => [r.epochs, r.batches, r.skipped]), [[2, 10, 0], [2, 10, 0], [2, 10, 0]]);
  t.deepEqual(reports[0].resumedAt, { epoch: 0, seq: 0 });
  const ends: FleetEpochEnd[] = [];
  const stats = new PipelineStats();
  const trained = await lastValueFrom(
    fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId, epochs: 2, onEpochEnd: (e) => ends.push(e), stats }).pipe(
      consume(async (r) => r),
      acknowledge(),
      toArray(),
    ),
  );
  const epochs = byEpoch(trained);
  t.deepEqual([...epochs.keys()].sort(), [0, 1]);
  t.deepEqual(epochs.get(0), all(60));
  t.deepEqual(epochs.get(1), all(60));
  // Batches of a shard arrive in sequence order, epoch after epoch.
  for (const shard of [0, 1, 2]) {
    const seqs = trained.filter((r) => r.fleet.shard === shard).map((r) => `${r.fleet.epoch}:${r.fleet.seq}`);
    t.deepEqual(seqs, [0, 1].flatMap((e) => all(5).map((s) => `${e}:${s}`)));
  }
  // Each epoch's order depends on the epoch (seeded per epoch), so the two epochs differ.
  t.notDeepEqual(trained.filter((r) => r.fleet.epoch === 0).flatMap(ids), trained.filter((r) => r.fleet.epoch === 1).flatMap(ids));
  t.deepEqual(ends.filter((e) => e.kind === 'partition' && e.complete).map((e) => e.epoch), [0, 1]);
  t.deepEqual(ends.flatMap((e) => (e.kind === 'partition' && e.epoch === 0 ? [e.partition] : [])).sort(), [0, 1, 2]);
  // One trainer: the group view completes each epoch once, in order, after the local view did.
  t.deepEqual(ends.filter((e) => e.kind === 'group').map((e) => [e.epoch, e.complete, e.groupComplete]), [[0, true, true], [1, true, true]]);
  t.is(stats.get('fleet')?.extra.markers, 18); // 3 shards × 3 partitions × 2 epochs
  // acknowledge() completed after the commit: the group is at the end of every partition.
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '16', 1: '16', 2: '16' });
});

test.serial('a worker stopped mid-epoch and started again resumes after its last published batch; a duplicate run is dropped by the trainer', async (t) => {
  const topic = uniqueName('fleet-resume');
  await cluster.createTopic(topic, 1, 1);
  const args: HeadArgs = { elements: 40, batchSize: 2, delayMs: 5 };
  const shard = { index: 0, count: 1 };
  // First run: aborted once 7 batches are out.
  const controller = new AbortController();
  let sent = 0;
  const first = runWorker(head, { kafka: kafka(), topic, shard, args, epochs: 2, maxPending: 1, signal: controller.signal, stats: new PipelineStats() });
  const watch = setInterval(() => {
    void highWatermarks(topic).then((n) => {
      sent = n;
      if (n >= 7) controller.abort();
    });
  }, 20);
  const error = await t.throwsAsync(first, { instanceOf: AbortError });
  clearInterval(watch);
  t.regex(error!.message, /rxdata-worker shard 0 of 1 → fleet-resume.*: aborted/);
  t.true(sent >= 7 && sent < 20, `aborted after ${sent} batches`);
  t.is(openClients.producer, 0);
  t.is(openClients.admin, 0);
  // Second run: continues after the last batch in the topic, re-reading (not re-sending) the rest.
  const published = await highWatermarks(topic);
  const second = await runWorker(head, { kafka: kafka(), topic, shard, args, epochs: 2 });
  t.deepEqual(second.resumedAt, { epoch: 0, seq: published });
  t.is(second.skipped, published);
  t.is(second.batches, 40 - published);
  // Third run, without resume: publishes both epochs again; the trainer drops every one of them.
  const third = await runWorker(head, { kafka: kafka(), topic, shard, args, epochs: 2, resume: false });
  t.is(third.batches, 40);
  // A fourth run with resume finds both epochs done and publishes nothing.
  const fourth = await runWorker(head, { kafka: kafka(), topic, shard, args, epochs: 2 });
  t.deepEqual([fourth.resumedAt, fourth.batches, fourth.epochs], [{ epoch: 2, seq: 0 }, 0, 0]);
  const stats = new PipelineStats();
  const trained = await lastValueFrom(fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), idleTimeoutMs: 1500, stats }).pipe(consume(async (r) => r), acknowledge(), toArray()));
  const epochs = byEpoch(trained);
  t.deepEqual(epochs.get(0), all(40));
  t.deepEqual(epochs.get(1), all(40));
  t.is(stats.get('fleet')?.extra.duplicates, 40);
});

test.serial('backpressure: a worker stops while the trainers lag maxLag records, and goes on as they commit', async (t) => {
  const topic = uniqueName('fleet-lag');
  const groupId = uniqueName('slow');
  await cluster.createTopic(topic, 2, 1);
  const maxLag = 6;
  const args: HeadArgs = { elements: 60, batchSize: 2 };
  const worker = runWorker(head, { kafka: kafka(), topic, shard: { index: 0, count: 1 }, args, groupId, maxLag, lagPollMs: 50, maxPending: 2 });
  // No trainer yet: the worker must stop at the bound. Polled, so that a slow start only waits
  // longer: until it wrote what it may, then until nothing more came for 500 ms (10 lag polls).
  let before = 0;
  for (let polls = 0; before < maxLag - 2 && polls < 300; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    before = await highWatermarks(topic);
  }
  for (let last = -1, same = 0, polls = 0; same < 5 && polls < 300; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    before = await highWatermarks(topic);
    same = before === last ? same + 1 : 0;
    last = before;
  }
  t.true(before <= maxLag, `${before} records in the topic with nobody reading (maxLag ${maxLag})`);
  t.true(before >= maxLag - 2, `the worker did produce up to the bound (${before})`);
  // A slow trainer: the worker keeps the lag bounded all along.
  let maxSeen = 0;
  const trained = await lastValueFrom(
    fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId, commitIntervalMs: 50, idleTimeoutMs: 2000 }).pipe(
      consume(async (r) => {
        const lag = (await highWatermarks(topic)) - Object.values(await committedOffsets(cluster, groupId, topic)).reduce((n, o) => n + Math.max(0, Number(o)), 0);
        maxSeen = Math.max(maxSeen, lag);
        await new Promise((resolve) => setTimeout(resolve, 10));
        return r;
      }),
      acknowledge(),
      toArray(),
    ),
  );
  const report = await worker;
  t.deepEqual(byEpoch(trained).get(0), all(60));
  // maxLag, plus the epoch's end markers (one per partition) sent as the head completes.
  t.true(maxSeen <= maxLag + 2, `lag peaked at ${maxSeen}`);
  t.true(report.pausedMs > 500, `paused ${report.pausedMs} ms`);
});

test('a record that is not a fleet batch fails the trainer with a RecordError naming topic, partition and offset', async (t) => {
  const topic = uniqueName('fleet-bad');
  await cluster.createTopic(topic, 1, 1);
  const producer = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value: encodeBatch({ ok: 1 }), headers: { [FLEET_HEADER]: '1,b,0,0,1,0,1' } }, { value: Buffer.from('{"json":true}'), headers: { [FLEET_HEADER]: '1,b,0,0,1,1,1' } }] });
  await producer.send({ topic, messages: [{ value: encodeBatch({ ok: 2 }) }] });
  await producer.disconnect();
  const read = (): Promise<unknown> => lastValueFrom(fromFleet({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), idleTimeoutMs: 1000 }).pipe(toArray()));
  const error = await t.throwsAsync(read(), { instanceOf: RecordError });
  t.regex(error!.message, /not an rxdata batch .*\(at topic fleet-bad-\d+-\d+ partition 0 offset 1\)/);
  // With the bad value skipped, the record without a header is next.
  const error2 = await t.throwsAsync(lastValueFrom(fromFleet({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), idleTimeoutMs: 1000, onError: 'skip' }).pipe(toArray())), { instanceOf: RecordError });
  t.regex(error2!.message, /without the rxdata-fleet header .*\(at topic fleet-bad-\d+-\d+ partition 0 offset 2\)/);
});

test.serial("mode 'streaming': no epochs or end markers; a restarted worker continues the sequence", async (t) => {
  const topic = uniqueName('fleet-live');
  await cluster.createTopic(topic, 2, 1);
  const args: HeadArgs = { elements: 10, batchSize: 2 };
  const shard = { index: 1, count: 2 };
  const first = await runWorker(head, { kafka: kafka(), topic, shard, args, mode: 'streaming' });
  const second = await runWorker(head, { kafka: kafka(), topic, shard, args, mode: 'streaming' });
  t.deepEqual([first.resumedAt, first.batches, first.epochs], [{ epoch: 0, seq: 0 }, 3, 0]);
  // A live source is not re-read: the second run's batches are new ones, numbered on.
  t.deepEqual([second.resumedAt, second.batches, second.skipped], [{ epoch: 0, seq: 3 }, 3, 0]);
  const stats = new PipelineStats();
  const trained = await lastValueFrom(fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), idleTimeoutMs: 1500, stats }).pipe(consume(async (r) => r), acknowledge(), toArray()));
  t.deepEqual(trained.map((r) => [r.partition, r.fleet.epoch, r.fleet.seq]), all(6).map((seq) => [1, 0, seq]));
  t.is(stats.get('fleet')?.extra.markers, undefined);
  t.deepEqual(trained.flatMap(ids).sort((a, b) => a - b), [1, 1, 3, 3, 5, 5, 7, 7, 9, 9]);
});

/** Kafka clients that note each consumer's latest assignment of `topic` (one slot per trainer). */
function watchAssignments(topic: string, slot: number[][], i: number): KafkaClientFactory {
  return {
    ...kafkajsClients,
    consumer(connection, settings) {
      const consumer = kafkajsClients.consumer(connection, settings);
      consumer.onGroupJoin((assignment) => {
        if (assignment[topic]) slot[i] = [...assignment[topic]].sort();
      });
      return consumer;
    },
  };
}

test.serial('two trainers in one group: each ends after the last epoch is complete across the group, though each read only its partitions', async (t) => {
  const topic = uniqueName('fleet-two');
  const groupId = uniqueName('trainers');
  await cluster.createTopic(topic, 4, 1);
  await cluster.createTopic(epochTopicOf(topic), 1, 1);
  const ends: FleetEpochEnd[][] = [[], []];
  const assigned: number[][] = [[], []];
  const trainers = ends.map((list, i) =>
    lastValueFrom(
      fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId, epochs: 2, groupPollMs: 100, commitIntervalMs: 100, onEpochEnd: (e) => list.push(e), clients: watchAssignments(topic, assigned, i) }).pipe(
        consume(async (r) => r),
        acknowledge(),
        toArray(),
      ),
    ),
  );
  // Workers start once both trainers hold their partitions: each trainer reads two of the four.
  t.true(await eventually(() => assigned.every((a) => a.length === 2), 60_000), `both trainers joined (${JSON.stringify(assigned)})`);
  const args: HeadArgs = { elements: 64, batchSize: 4 };
  await Promise.all([0, 1, 2, 3].map((index) => runWorker(head, { kafka: kafka(), topic, shard: { index, count: 4 }, args, epochs: 2 })));
  const trained = await Promise.all(trainers);
  const both = trained.flat();
  t.deepEqual(byEpoch(both).get(0), all(64));
  t.deepEqual(byEpoch(both).get(1), all(64));
  t.deepEqual(trained.map((list) => list.length), [16, 16], 'each trainer trained its two partitions (2 shards × 4 batches × 2 epochs)');
  for (const list of ends) t.deepEqual(list.filter((e) => e.kind === 'group').map((e) => [e.epoch, e.groupComplete]), [[0, true], [1, true]]);
  // Neither saw a whole epoch locally (each ended 2 of 4 partitions): the group view ended them.
  for (const list of ends) t.deepEqual(list.filter((e) => e.kind === 'partition').map((e) => [e.epoch, e.partitionsDone.length, e.complete]).sort(), [[0, 1, false], [0, 2, false], [1, 1, false], [1, 2, false]]);
});

test.serial('a worker that died between its end marker and its epoch record writes the record when it resumes; trainers wait for it, and time out naming the epoch when nothing moves', async (t) => {
  const topic = uniqueName('fleet-note');
  await cluster.createTopic(topic, 1, 1);
  await cluster.createTopic(epochTopicOf(topic), 1, 1);
  const args: HeadArgs = { elements: 8, batchSize: 4 };
  const shard = { index: 0, count: 1 };
  // Sends to the epoch topic fail: the worker dies right after writing its end marker.
  const failing: KafkaClientFactory = {
    ...kafkajsClients,
    producer(connection) {
      const real = kafkajsClients.producer(connection);
      return { ...real, connect: () => real.connect(), disconnect: () => real.disconnect(), send: (to, messages) => (to === epochTopicOf(topic) ? Promise.reject(new Error('injected: epoch topic down')) : real.send(to, messages)) };
    },
  };
  const error = await t.throwsAsync(runWorker(head, { kafka: kafka(), topic, shard, args, epochs: 1, clients: failing }));
  t.regex(error!.message, /cannot write to the epoch topic fleet-note-\d+-\d+-epochs/);
  // A trainer now trains both batches but cannot see the epoch complete: it times out, naming it.
  const waiting = fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), epochs: 1, groupPollMs: 100, commitIntervalMs: 100, groupTimeoutMs: 2500 });
  const timedOut = await t.throwsAsync(lastValueFrom(waiting.pipe(consume(async (r) => r), acknowledge(), toArray())));
  t.regex(timedOut!.message, /epoch 0 not complete across group .* after 2500 ms without progress \(no end of epoch 0 in fleet-note-\d+-\d+-epochs yet\)/);
  // The restarted worker finds its end marker, publishes nothing, and writes the epoch record.
  const again = await runWorker(head, { kafka: kafka(), topic, shard, args, epochs: 1 });
  t.deepEqual([again.resumedAt, again.batches], [{ epoch: 1, seq: 0 }, 0]);
  const ends: FleetEpochEnd[] = [];
  const trained = await lastValueFrom(fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), epochs: 1, groupPollMs: 100, commitIntervalMs: 100, onEpochEnd: (e) => ends.push(e) }).pipe(consume(async (r) => r), acknowledge(), toArray()));
  t.deepEqual(byEpoch(trained).get(0), all(8));
  t.deepEqual(ends.map((e) => [e.kind, e.epoch]), [['partition', 0], ['group', 0]]);
});

test.serial('groupView: false: the local view alone ends a single trainer, without an epoch topic', async (t) => {
  const topic = uniqueName('fleet-local');
  await cluster.createTopic(topic, 2, 1);
  await runWorker(head, { kafka: kafka(), topic, shard: { index: 0, count: 1 }, args: { elements: 10, batchSize: 5 }, epochs: 2, epochTopic: uniqueName('elsewhere') });
  const ends: FleetEpochEnd[] = [];
  const trained = await lastValueFrom(fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId: uniqueName('g'), epochs: 2, groupView: false, onEpochEnd: (e) => ends.push(e) }).pipe(consume(async (r) => r), acknowledge(), toArray()));
  t.is(trained.length, 4);
  t.deepEqual(ends.filter((e) => e.complete).map((e) => [e.kind, e.epoch, e.groupComplete]), [['partition', 0, false], ['partition', 1, false]]);
});

test.serial('epochs: 1 over a topic holding 2: the trainer stops reading at epoch 1 and leaves it uncommitted; the next trainer of the group trains epoch 1 alone', async (t) => {
  const topic = uniqueName('fleet-sittings');
  const groupId = uniqueName('trainers');
  await cluster.createTopic(topic, 2, 1);
  await cluster.createTopic(epochTopicOf(topic), 1, 1);
  const args: HeadArgs = { elements: 40, batchSize: 2 };
  await Promise.all([0, 1].map((index) => runWorker(head, { kafka: kafka(), topic, shard: { index, count: 2 }, args, epochs: 2 })));
  const sitting = async (epochs: number): Promise<{ trained: FleetRecord<Batch>[]; group: number[]; read: number }> => {
    const group$: number[] = [];
    const stats = new PipelineStats();
    const trained = await lastValueFrom(
      fromFleet<Batch>({ kafka: kafka(), ...group, topic, groupId, epochs, groupPollMs: 100, commitIntervalMs: 100, highWaterMark: 4, stats, onEpochEnd: (e) => e.kind === 'group' && group$.push(e.epoch) }).pipe(consume(async (r) => r), acknowledge(), toArray()),
    );
    return { trained, group: group$, read: stats.get('fleet')?.in ?? 0 };
  };
  const first = await sitting(1);
  t.deepEqual([...byEpoch(first.trained).keys()], [0]);
  t.deepEqual(byEpoch(first.trained).get(0), all(40));
  t.deepEqual(first.group, [0]);
  // 20 batches and 2 × 2 end markers of epoch 0, then at most the few records already on their way.
  t.true(first.read <= 24 + 8, `read ${first.read} records of 48`);
  const second = await sitting(2);
  t.deepEqual([...byEpoch(second.trained).keys()], [1]);
  t.deepEqual(byEpoch(second.trained).get(1), all(40));
  t.deepEqual(second.group, [0, 1]);
});
