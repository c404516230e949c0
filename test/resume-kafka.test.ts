/**
 * Exact resume of a Kafka pipeline (issue 17) on the mock cluster: the position saved is, per
 * partition, the offset after the last record emitted into the pipeline; the shuffle window,
 * partial batch and prefetched batches are saved with it. In process (a fresh pipeline restored
 * from the V8 bytes), and across a SIGKILL of a training child process.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, map, toArray } from 'rxjs';
import { batch, prefetch, shuffle } from '../src/index.js';
import { resumable } from '../src/state/index.js';
import { fromKafka } from '../connectors/kafka/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, produce, uniqueName } from './harness/kafka/helpers.js';
import { kafkaPipeline, type Batch } from './fixtures/resume/pipelines.js';
import { checkResume, train } from './fixtures/resume/train.js';

let cluster: MockCluster;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

test('one partition: a restored Kafka pipeline emits exactly the remaining batches, in order', async (t) => {
  const topic = uniqueName('resume1');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 120, 1);
  const build = () => kafkaPipeline(cluster.bootstrap, topic).pipe(map((b: Batch) => Array.from(b.id.data)));
  await checkResume(t, build, 2, [5, 17]);
});

test('three partitions: nothing twice, nothing missing', async (t) => {
  const topic = uniqueName('resume3');
  await cluster.createTopic(topic, 3, 1);
  await produce(cluster, topic, 150, 3);
  const build = () =>
    fromKafka<{ i: number }>({ ...fastGroup, brokers: cluster.bootstrap, topics: topic, mode: 'bounded', decode: 'json' }).pipe(
      map((r) => ({ i: r.value.i, p: r.partition, o: Number(r.offset) })),
      shuffle(10, { seed: 1 }),
      batch(6),
      prefetch(2),
    );
  const first = await train(build, 1, { stopAfter: 9 });
  const rest = await train(build, 1, { restore: first.state });
  const all = [...first.trained, ...rest.trained].flatMap((b) => Array.from(b.i.data));
  t.deepEqual([...all].sort((a, b) => a - b), Array.from({ length: 150 }, (_, i) => i));
  // The saved positions: per partition, after the last record emitted into the pipeline.
  const kafka = first.state!.stages.find((s) => s.kind === 'kafka')!.state as { positions: Record<string, string> };
  const positions = Object.entries(kafka.positions);
  t.true(positions.length > 0 && positions.every(([key, o]) => key.startsWith(`${topic}/`) && Number(o) > 0 && Number(o) <= 50));
});

test('Kafka pipeline: SIGKILL mid-epoch, resume: the trained batches are the uninterrupted run\'s', async (t) => {
  const topic = uniqueName('resumekill');
  await cluster.createTopic(topic, 1, 1);
  await produce(cluster, topic, 100, 1);
  const data = resumable(kafkaPipeline(cluster.bootstrap, topic));
  const expected: number[][] = [];
  for (let e = 0; e < 2; e++) for (const b of await lastValueFrom(data.pipe(toArray()))) expected.push(Array.from(b.id.data));
  const dir = mkdtempSync(join(tmpdir(), 'rxdata-kill-kafka-'));
  const env = { KAFKA_BROKERS: cluster.bootstrap, KAFKA_TOPIC: topic };
  const k = 7 + (Date.now() % 3) * 3 + 1; // mid-epoch 0 or early epoch 1 (13 batches an epoch), not a checkpoint step
  t.log(`killed at step ${k} of ${expected.length}`);
  const first = await child(dir, { ...env, KILL_AT: String(k) });
  t.is(first.signal, 'SIGKILL', first.stderr);
  const ckpt = join(dir, 'ckpt');
  const { name } = JSON.parse(readFileSync(join(ckpt, 'latest.json'), 'utf8')) as { name: string };
  const resumedFrom = (JSON.parse(readFileSync(join(ckpt, name, 'state.json'), 'utf8')) as { step: number }).step;
  const kept = readLog(join(dir, 'log.jsonl')).filter((l) => l.step <= resumedFrom);
  writeFileSync(join(dir, 'log.jsonl'), '');
  const second = await child(dir, env);
  t.is(second.code, 0, second.stderr);
  t.deepEqual([...kept, ...readLog(join(dir, 'log.jsonl'))].map((l) => l.ids), expected);
});

const CHILD = new URL('./fixtures/resume/train-child.ts', import.meta.url).pathname;
function child(dir: string, env: Record<string, string>): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, 'kafka', '-', join(dir, 'ckpt'), join(dir, 'log.jsonl'), '2'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}
const readLog = (path: string): { step: number; ids: number[] }[] =>
  readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { step: number; ids: number[] });
