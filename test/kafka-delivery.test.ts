import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bufferCount, lastValueFrom, toArray } from 'rxjs';
import { PipelineStats, consume } from '../src/index.js';
import { acknowledge, fromKafka } from '../connectors/kafka/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { committedOffsets, eventually, fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';

const workerScript = fileURLToPath(new URL('./harness/kafka/worker.ts', import.meta.url));
let cluster: MockCluster;
let dir: string;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
  dir = mkdtempSync(join(tmpdir(), 'rxdata-kafka-'));
});
test.after.always(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function startWorker(topic: string, groupId: string, out: string, stepMs: number, idleMs: number): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', workerScript, cluster.bootstrap, topic, groupId, out, String(stepMs), String(idleMs)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited };
}
const trained = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

test('after-ack commits only acknowledged work, as a contiguous watermark', async (t) => {
  const topic = uniqueName('ack');
  const groupId = uniqueName('g-ack');
  await cluster.createTopic(topic, 2, 1);
  await produce(cluster, topic, 100, 2);
  // ackGraceMs: the never-acknowledged records would hold the final commit this long.
  const kafka = fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, mode: 'bounded', decode: 'json', start: 'earliest', ackGraceMs: 300 });
  // Acknowledge only records with i < 60, so each partition's watermark stops at 30.
  const stats = new PipelineStats();
  await lastValueFrom(
    kafka.pipe(
      consume(async (r) => r, { stats }),
      acknowledge((r) => (r.value.i < 60 ? r : undefined)),
      toArray(),
    ),
  );
  t.deepEqual(await committedOffsets(cluster, groupId, topic), { 0: '30', 1: '30' });
  t.true((stats.get('kafka')?.extra.commits ?? 0) >= 1);
  // Restarting from 'committed' resumes exactly at the watermark.
  const rest = await lastValueFrom(fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, mode: 'bounded', decode: 'json', commit: 'none' }).pipe(toArray()));
  t.deepEqual(rest.map((r) => r.value.i).sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => 60 + i));
});

test("commit: 'on-read' commits what entered the pipeline; 'none' commits nothing", async (t) => {
  const topic = uniqueName('onread');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 20, 1);
  const onRead = uniqueName('g-onread');
  await lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId: onRead, mode: 'bounded', commit: 'on-read' }).pipe(toArray()));
  t.deepEqual(await committedOffsets(cluster, onRead, topic), { 0: '20' });
  const none = uniqueName('g-none');
  await lastValueFrom(fromKafka({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId: none, mode: 'bounded', commit: 'none' }).pipe(toArray()));
  t.deepEqual(await committedOffsets(cluster, none, topic), { 0: '-1' });
});

test('poison records with onError skip are counted and sent to the dead-letter topic', async (t) => {
  const topic = uniqueName('poison');
  const dlq = uniqueName('dlq');
  await cluster.createTopic(topic, 2, 1);
  await cluster.createTopic(dlq, 1, 1);
  await produce(cluster, topic, 50, 2, [3, 20]);
  const stats = new PipelineStats();
  const good = await lastValueFrom(
    fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: 'json', onError: 'skip', deadLetterTopic: dlq, name: 'kafka' }).pipe(
      consume(async (r) => r, { stats }),
      toArray(),
    ),
  );
  t.is(good.length, 48);
  t.is(stats.get('kafka')?.skipped, 2);
  const letters = await lastValueFrom(fromKafka<string>({ ...fastGroup, brokers: cluster.bootstrap, topics: dlq, mode: 'bounded', decode: 'utf8' }).pipe(toArray()));
  t.deepEqual(letters.map((l) => l.key?.toString()).sort(), ['20', '3']);
  t.is(letters[0].value, 'not json');
  t.regex(String(letters.find((l) => l.key?.toString() === '3')?.headers['rxdata-origin']), new RegExp(`topic ${topic} partition 1 offset 1$`));
});

test('at-least-once: a worker killed (SIGKILL) mid-training and restarted trains every offset', async (t) => {
  const topic = uniqueName('crash');
  const groupId = uniqueName('g-crash');
  await cluster.createTopic(topic, 3, 1);
  await produce(cluster, topic, 600, 3);
  const out = join(dir, `${topic}.txt`);
  // A worker process starts tsx and joins a group: on a loaded machine (the whole suite beside
  // other jobs) that alone took more than 30 s.
  t.timeout(180_000);
  const first = startWorker(topic, groupId, out, 30, 60_000);
  t.true(await eventually(() => trained(out).length >= 150, 90_000), 'first worker trained nothing');
  first.child.kill('SIGKILL');
  await first.exited;
  const before = trained(out).length;
  const second = startWorker(topic, groupId, out, 0, 2500);
  t.is(await second.exited, 0);
  const lines = trained(out);
  const distinct = new Set(lines);
  t.is(distinct.size, 600, 'every offset trained at least once');
  const duplicates = lines.length - distinct.size;
  t.log(`trained before kill ${before}, duplicates after restart ${duplicates}`);
  // Duplicates are bounded by what was in flight (buffer 20 + a batch of 10 + uncommitted acks).
  t.true(duplicates < before, `duplicates ${duplicates}`);
});

test('two workers in one group split the partitions and together train everything', async (t) => {
  const topic = uniqueName('split');
  const groupId = uniqueName('g-split');
  await cluster.createTopic(topic, 4, 1);
  await produce(cluster, topic, 800, 4);
  const outA = join(dir, `${topic}-a.txt`);
  const outB = join(dir, `${topic}-b.txt`);
  const a = startWorker(topic, groupId, outA, 40, 4000);
  const b = startWorker(topic, groupId, outB, 40, 4000);
  t.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
  const linesA = trained(outA);
  const linesB = trained(outB);
  t.is(new Set([...linesA, ...linesB]).size, 800);
  t.log(`worker A ${linesA.length}, worker B ${linesB.length}`);
  t.true(linesA.length > 0 && linesB.length > 0, 'both workers got partitions');
  const offsets = await committedOffsets(cluster, groupId, topic);
  t.deepEqual(offsets, { 0: '200', 1: '200', 2: '200', 3: '200' });
});

test('bounded epochs with a group and explicit start replay the same records', async (t) => {
  const topic = uniqueName('epochs');
  const groupId = uniqueName('g-epochs');
  await cluster.createTopic(topic, 2, 1);
  await produce(cluster, topic, 40, 2);
  const kafka = fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, groupId, mode: 'bounded', decode: 'json', start: 'earliest', sessionTimeout: 3000 });
  const epoch = (): Promise<number[]> =>
    lastValueFrom(kafka.pipe(bufferCount(8), consume(async (r) => r), acknowledge(), toArray())).then((bs) => bs.flat().map((r) => r.value.i).sort((x, y) => x - y));
  const e1 = await epoch();
  const e2 = await epoch();
  t.deepEqual(e1, e2);
  t.is(e1.length, 40);
});
