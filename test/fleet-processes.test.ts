import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { lastValueFrom, toArray } from 'rxjs';
import { consume } from '../operators/consume.js';
import { acknowledge } from '../connectors/kafka/acknowledge.js';
import { epochTopicOf, fromFleet, runWorker, type FleetRecord } from '../connectors/kafka/fleet/index.js';
import { kafkajsClients, type KafkaClientFactory } from '../connectors/kafka/client.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { eventually, fastGroup, uniqueName } from './harness/kafka/helpers.js';
import type { HeadArgs } from './fixtures/fleet/head.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const head = here('./fixtures/fleet/head.ts');
const trainerScript = here('./fixtures/fleet/trainer.ts');
const cli = here('../connectors/kafka/fleet/cli.ts');

let cluster: MockCluster;
let dir: string;
test.before(async () => {
  cluster = await startCluster({ brokers: 1 });
  dir = mkdtempSync(join(tmpdir(), 'rxdata-fleet-'));
});
test.after.always(async () => {
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly out: () => string;
}
function start(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => out };
}
const trainer = (topic: string, groupId: string, out: string, stepMs: number, epochs: number): Proc =>
  start([trainerScript, cluster.bootstrap, topic, groupId, out, String(stepMs), '2500', String(epochs)]);

type Line = { epoch: number; shard: number; seq: number; ids: number[] };
interface LocalTrainerOptions {
  /** Called with this trainer's partitions of the topic at each group join. */
  readonly onJoin?: (partitions: number[]) => void;
  /** The group session, ms (the fast tests' 3 s unless set). */
  readonly sessionTimeout?: number;
}
/**
 * A trainer in this process (a consumer of the group like the process ones; each is its own
 * kafkajs consumer): trains with `stepMs` steps until epoch `epochs − 1` is complete across the
 * group; notes each epoch the group completed in `groupEnds`.
 */
function localTrainer(topic: string, groupId: string, stepMs: number, lines: Line[], epochs: number, groupEnds: number[], options: LocalTrainerOptions = {}): Promise<unknown> {
  const { logLevel: quiet, ...group } = fastGroup;
  const { onJoin, sessionTimeout = group.sessionTimeout } = options;
  // The kafkajs clients, with this trainer's group joins reported (the partitions it was given).
  const clients: KafkaClientFactory = {
    ...kafkajsClients,
    consumer(connection, settings) {
      const consumer = kafkajsClients.consumer(connection, settings);
      // The trainer's consumer only: the group view reads the epoch topic with a consumer of its own.
      if (onJoin) consumer.onGroupJoin((assignment) => assignment[topic] && onJoin(assignment[topic]));
      return consumer;
    },
  };
  return lastValueFrom(
    fromFleet<{ id: { data: Int32Array } }>({
      kafka: { brokers: cluster.bootstrap, logLevel: quiet },
      ...group,
      sessionTimeout,
      clients,
      topic,
      groupId,
      commitIntervalMs: 100,
      groupPollMs: 100,
      epochs,
      onEpochEnd: (e) => {
        if (e.kind === 'group') groupEnds.push(e.epoch);
      },
    }).pipe(
      consume(async (r: FleetRecord<{ id: { data: Int32Array } }>) => {
        await new Promise((resolve) => setTimeout(resolve, stepMs));
        lines.push({ epoch: r.fleet.epoch, shard: r.fleet.shard, seq: r.fleet.seq, ids: Array.from(r.value.id.data) });
        return r;
      }),
      acknowledge(),
      toArray(),
    ),
  );
}

/**
 * Resolves once the group has committed every partition to its end: with the workers done, the
 * whole topic is trained (a trainer's idle timeout could fire during a rebalance instead).
 */
async function consumedAll(topic: string, groupId: string): Promise<boolean> {
  const admin = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    for (const until = Date.now() + 180_000; Date.now() < until; ) {
      const [offsets, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
      if (offsets.every((o) => committed.partitions.find((c) => c.partition === o.partition)?.offset === o.high)) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  } finally {
    await admin.disconnect();
  }
}

/** Trained lines of a trainer's file: `epoch shard seq ids`. */
function trained(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [epoch, shard, seq, ids] = line.split(' ');
      return { epoch: Number(epoch), shard: Number(shard), seq: Number(seq), ids: ids.split(',').map(Number) };
    });
}
/** How many times each id was trained in `epoch`. */
function counts(lines: readonly Line[], epoch: number): Map<number, number> {
  const m = new Map<number, number>();
  for (const l of lines) if (l.epoch === epoch) for (const id of l.ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}
/** The pids of `pid`'s children (the supervisor's workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

test('three worker processes under rxdata-worker --shards, one killed mid-epoch and restarted; two trainers: every element exactly once per epoch, and both see each epoch complete across the group', async (t) => {
  // Worker processes load the library under tsx: seconds each on a busy 2-core machine.
  t.timeout(300_000);
  const topic = uniqueName('fleet-p');
  const groupId = uniqueName('trainers');
  await cluster.createTopic(topic, 3, 1);
  await cluster.createTopic(epochTopicOf(topic), 1, 1);
  // 250 ms a batch: shard 0's worker lives 5 s, time to see 3 of its batches trained and kill it.
  const args: HeadArgs = { elements: 90, batchSize: 3, delayMs: 250 };
  // The trainers run here: what this test kills is a worker. Nothing kills a trainer, so the group
  // must not rebalance while batches flow (a partition that moves takes its trained, uncommitted
  // batches with it, and the new owner trains them again: at-least-once, the next test): the
  // session outlasts a busy machine's pauses, and the workers start once the group has split the
  // partitions between both trainers.
  const byTrainer: Line[][] = [[], []];
  const groupEnds: number[][] = [[], []];
  const batches = (2 * args.elements) / args.batchSize;
  /** Each trainer's partitions since its last group join. */
  const assigned: number[][] = [[], []];
  /** Batches trained, of both epochs, when a trainer (re)joined the group after the first one. */
  const joinedMidway: number[] = [];
  const trainedSoFar = (): number => byTrainer[0].length + byTrainer[1].length;
  const onJoin = (i: number) => (partitions: number[]): void => {
    assigned[i] = partitions;
    if (trainedSoFar() > 0 && trainedSoFar() < batches) joinedMidway.push(trainedSoFar());
  };
  const trainers = byTrainer.map((lines, i) => localTrainer(topic, groupId, 5, lines, 2, groupEnds[i], { sessionTimeout: 30_000, onJoin: onJoin(i) }));
  // Both trainers hold partitions, and together each of the 3 once.
  const split = (): boolean => assigned.every((p) => p.length > 0) && assigned.flat().length === 3 && new Set(assigned.flat()).size === 3;
  t.true(await eventually(split, 120_000), `the group split the partitions: ${JSON.stringify(assigned)}`);
  const supervisor = start([cli, head, '--brokers', cluster.bootstrap, '--topic', topic, '--shards', '0-2/3', '--restarts', '2', '--epochs', '2', '--args', JSON.stringify(args), '--quiet']);
  // Kill shard 0's process once the trainers have trained 3 of its batches (the partition's high
  // watermark would not do: the other shards' end markers land there too).
  t.true(await eventually(() => childrenOf(supervisor.child.pid!).length === 3, 120_000), 'three worker processes');
  // The shard-0 worker is the one whose command line says --shard 0/3.
  const victim = childrenOf(supervisor.child.pid!).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('0/3'));
  t.truthy(victim, 'the shard-0 worker process');
  const ofShard0 = (): number => byTrainer.flat().filter((l) => l.shard === 0).length;
  t.true(await eventually(() => ofShard0() >= 3, 180_000), 'shard 0 published');
  process.kill(victim!, 'SIGKILL');
  const atKill = ofShard0();
  t.true(atKill < 20, `killed before shard 0 finished (${atKill} of its 20 batches trained)`);
  t.is(await supervisor.exited, 0, 'the supervisor restarted the shard and every shard finished');
  const reports = supervisor.out().trim().split('\n').map((l) => JSON.parse(l) as { shard: { index: number }; resumedAt: { epoch: number; seq: number }; skipped: number });
  const restarted = reports.find((r) => r.shard.index === 0)!;
  t.true(restarted.resumedAt.seq >= 3 || restarted.resumedAt.epoch > 0, `shard 0 resumed at ${JSON.stringify(restarted.resumedAt)}`);
  t.log(`killed with ${atKill} batches of shard 0 trained; restarted shard 0 resumed at ${JSON.stringify(restarted.resumedAt)}, skipped ${restarted.skipped}`);
  // Each trainer ends by itself, once epoch 1 is complete across the group.
  await Promise.all(trainers);
  t.true(await consumedAll(topic, groupId), 'the group consumed the topic');
  t.deepEqual(groupEnds, [[0, 1], [0, 1]], 'both trainers saw both epochs complete across the group');
  t.deepEqual(joinedMidway, [], 'no rebalance while the batches flowed (batches trained at each one)');
  const lines = byTrainer.flat();
  for (const epoch of [0, 1]) {
    const c = counts(lines, epoch);
    t.is(c.size, 90, `epoch ${epoch}: every element`);
    const twice = new Set([...c].filter(([, n]) => n !== 1).map(([id]) => id));
    // Which trainer trained a repeated batch, and when, tells a worker's republished batch from a rebalance.
    for (const [i, ls] of byTrainer.entries()) {
      for (const [at, l] of ls.entries()) {
        if (l.epoch === epoch && l.ids.some((id) => twice.has(id))) t.log(`trainer ${i} step ${at}/${ls.length}: shard ${l.shard} seq ${l.seq} ids ${l.ids.join(',')}`);
      }
    }
    t.deepEqual([...c.values()].filter((n) => n !== 1), [], `epoch ${epoch}: each once`);
  }
  // The group split the partitions: both trainers trained.
  t.true(byTrainer.every((l) => l.length > 0), `trained ${byTrainer.map((l) => l.length).join(' + ')}`);
});

test('a trainer killed mid-epoch: the other takes its partitions over from the committed offsets and sees each epoch complete; nothing lost, only its uncommitted batches trained twice', async (t) => {
  t.timeout(300_000);
  const topic = uniqueName('fleet-t');
  const groupId = uniqueName('trainers');
  await cluster.createTopic(topic, 4, 1);
  await cluster.createTopic(epochTopicOf(topic), 1, 1);
  const args: HeadArgs = { elements: 96, batchSize: 4 };
  await Promise.all([0, 1, 2, 3].map((index) => runWorker(head, { kafka: { brokers: cluster.bootstrap, logLevel: 'nothing' }, topic, shard: { index, count: 4 }, args, epochs: 2 })));
  // A runs in its own process, to be killed; B here, started once A trains (A's process takes
  // longer to start), so that the group splits the partitions between them.
  const outA = join(dir, `${topic}-a`);
  // A steps slowly (48 batches take 14 s), so that it is still mid-read when B has joined and
  // trained, however long B's start and the group join take on a loaded machine (1–2 s here).
  const a = trainer(topic, groupId, outA, 300, 2);
  t.true(await eventually(() => trained(outA).length >= 1, 240_000), 'A trains');
  const linesB: Line[] = [];
  const groupEndsB: number[] = [];
  const b = localTrainer(topic, groupId, 100, linesB, 2, groupEndsB);
  // Kill A once B trains too: A holds partitions, mid-read.
  t.true(await eventually(() => linesB.length >= 1, 60_000), 'both trainers trained');
  a.child.kill('SIGKILL');
  await a.exited;
  const byA = trained(outA);
  t.true(byA.length < 48, `A died mid-way (${byA.length} of 48 batches)`);
  // B ends by itself once both epochs are complete across the group: A's partitions included.
  await b;
  t.deepEqual(groupEndsB, [0, 1], 'B saw both epochs complete across the group');
  t.true(await consumedAll(topic, groupId), 'B took over and consumed the topic');
  const lines = [...byA, ...linesB];
  const trainedByA = (epoch: number): Set<number> => new Set(byA.filter((l) => l.epoch === epoch).flatMap((l) => l.ids));
  for (const epoch of [0, 1]) {
    const c = counts(lines, epoch);
    t.is(c.size, 96, `epoch ${epoch}: every element`);
    const twice = [...c].filter(([, n]) => n > 1).map(([id]) => id);
    // At-least-once: only what A trained and had not committed yet is trained again by B.
    t.true(twice.every((id) => trainedByA(epoch).has(id)), `epoch ${epoch}: trained twice ${twice.join(',')}`);
    t.true([...c.values()].every((n) => n <= 2));
    if (twice.length) t.log(`epoch ${epoch}: ${twice.length} elements trained twice (A's uncommitted steps), of ${trainedByA(epoch).size} A trained`);
  }
});

test('rxdata-worker: a usage error exits 2 naming the flag; a head that cannot start exits 1 naming its module', async (t) => {
  t.timeout(300_000);
  const run = (args: string[]): Promise<{ code: number | null; err: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      child.once('exit', (code) => resolve({ code, err }));
    });
  const [usage, missing] = await Promise.all([
    run([head, '--brokers', cluster.bootstrap, '--topic', 't', '--shard', '3/2']),
    // No --args: the fixture head reads args.elements and throws.
    run([head, '--brokers', cluster.bootstrap, '--topic', uniqueName('noargs'), '--shard', '0/1', '--no-resume']),
  ]);
  t.is(usage.code, 2);
  t.regex(usage.err, /shard indexes must lie in 0\.\.1, got '3\/2'/);
  t.is(missing.code, 1);
  t.regex(missing.err, /rxdata-worker: cannot start the pipeline head: .*elements.* \(at file:.*fixtures\/fleet\/head\.ts\)/);
});
