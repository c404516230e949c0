/**
 * Scenario 20, a fleet on Kafka: batches per second delivered to one trainer by 1, 2 and 4
 * `rxdata-worker` processes running a CPU-heavy head (JPEG decode + preprocess + pool, batches of
 * 16), against the same head on `fromWorkers` threads in the trainer's process. Mock broker
 * (librdkafka's), a fresh one per run; the trainer is `fromFleet` → consume (no-op) → acknowledge,
 * and the workers pause at `maxLag` 32 batches of lag.
 *
 * Timed two ways, both on the batches' production times (Kafka record timestamps for the fleet,
 * arrival for threads, which deliver at once): from the first batch to the last, and steady (from
 * the moment every shard has produced a batch: process start and module loading are left out).
 * Record timestamps, not arrival: the workers start producing while the trainer still joins its
 * group, so batches arrive in a burst at first. The trainer keeps up (a no-op step), so production
 * is what it receives; were it slower, the workers would wait on `maxLag` and the timestamps
 * would show its pace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { count, lastValueFrom } from 'rxjs';
import { consume } from '../../operators/consume.js';
import { fromWorkers } from '../../src/workers/fromWorkers.js';
import { acknowledge } from '../../connectors/kafka/acknowledge.js';
import { fromFleet } from '../../connectors/kafka/fleet/fromFleet.js';
import type { FleetHeadArgs } from '../tasks/fleetHead.js';
import { mockUnavailable, startMockBroker } from '../kafkaMock.js';
import { fmt, memoryCells, memoryHeader, table, type CaseResult, type RunOptions, type ScenarioDef, type ScenarioRunner } from '../lib.js';

const THREADS = availableParallelism();
const BATCH = 16;
const TOPIC = 'fleet';
const PARTITIONS = 4;
const images = (o: RunOptions): number => (o.warmup ? 64 : o.quick ? 320 : 960);
const headUrl = new URL('../tasks/fleetHead.ts', import.meta.url);
const cli = fileURLToPath(new URL('../../connectors/kafka/fleet/cli.ts', import.meta.url));

type Batch = { image: { data: Float32Array }; label: { data: Int32Array } };

/** When each batch was produced, by shard, for the rates. */
class Clock {
  private readonly times: { shard: number; at: number }[] = [];
  get batches(): number {
    return this.times.length;
  }
  /** `at`: when the batch was produced, ms (Date.now() clock). */
  tick(shard: number, at: number): void {
    this.times.push({ shard, at });
  }
  result(n: number): CaseResult {
    const ats = this.times.map((x) => x.at);
    const first = Math.min(...ats);
    const last = Math.max(...ats);
    // Steady: from the moment the last shard to start produced its first batch.
    const firstByShard = new Map<number, number>();
    for (const { shard, at } of this.times) firstByShard.set(shard, Math.min(at, firstByShard.get(shard) ?? Infinity));
    const readyAt = Math.max(...firstByShard.values());
    const after = ats.filter((at) => at > readyAt).length;
    const ms = last - first;
    return {
      ms,
      items: this.batches,
      metrics: { batchesPerS: (this.batches - 1) / (ms / 1000), steadyBatchesPerS: after / ((last - readyAt) / 1000), imagesPerS: (n - BATCH) / (ms / 1000) },
    };
  }
}

async function fleet(workers: number, n: number, options: RunOptions): Promise<CaseResult> {
  const mock = await startMockBroker(TOPIC, PARTITIONS);
  const brokers = mock.brokers.join(',');
  const groupId = `trainer-${options.warmup ? 'w' : 'm'}`;
  const args: FleetHeadArgs = { images: n, batchSize: BATCH };
  const children: ChildProcess[] = [];
  try {
    for (let i = 0; i < workers; i++) {
      const child = spawn(
        process.execPath,
        [...process.execArgv, cli, fileURLToPath(headUrl), '--brokers', brokers, '--topic', TOPIC, '--shard', `${i}/${workers}`, '--group', groupId, '--max-lag', '32', '--args', JSON.stringify(args), '--quiet', '--no-resume'],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      children.push(child);
    }
    const exits = children.map((c) => new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code))));
    const expected = Math.ceil(n / workers / BATCH) * workers;
    const clock = new Clock();
    await lastValueFrom(
      fromFleet<Batch>({ kafka: { brokers, logLevel: 'nothing' }, topic: TOPIC, groupId, sessionTimeout: 6000, rebalanceTimeout: 3000, heartbeatInterval: 500, maxWaitTimeInMs: 50, commitIntervalMs: 200, epochs: 1 }).pipe(
        consume(async (r) => {
          clock.tick(r.fleet.shard, Number(r.timestamp));
          return r;
        }),
        acknowledge(),
        count(),
      ),
    );
    const codes = await Promise.all(exits);
    if (codes.some((c) => c !== 0)) throw new Error(`worker exit codes ${codes.join(',')}`);
    if (clock.batches !== expected) throw new Error(`fleet-${workers}: ${clock.batches} of ${expected} batches`);
    return clock.result(n);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    mock.stop();
  }
}

async function threads(workers: number, n: number): Promise<CaseResult> {
  const clock = new Clock();
  let shardOf = 0;
  await lastValueFrom(
    fromWorkers<Batch, FleetHeadArgs>(headUrl, { workers, args: { images: n, batchSize: BATCH } }).pipe(
      consume(async (b) => {
        // Threads do not say which shard a batch is from: round-robin is what the merge gives.
        clock.tick(shardOf++ % workers, Date.now());
        return b;
      }),
      count(),
    ),
  );
  return clock.result(n);
}

export const runner: ScenarioRunner = {
  async run(caseName, options) {
    const n = images(options);
    const m = /^(fleet|threads)-(\d+)$/.exec(caseName);
    if (!m) throw new Error(`no case ${caseName}`);
    return m[1] === 'fleet' ? fleet(Number(m[2]), n, options) : threads(Number(m[2]), n);
  },
};

export const fleetScenario: ScenarioDef = {
  id: 20,
  title: `Fleet: batches/s to one trainer from 1, 2, 4 rxdata-worker processes (CPU-heavy head, batches of ${BATCH}) vs fromWorkers threads, on ${THREADS} cores`,
  pending: async () => mockUnavailable(),
  cases: () => [
    { name: 'fleet-1', impl: 'rxdata', label: '1 rxdata-worker process → Kafka → fromFleet trainer' },
    { name: 'fleet-2', impl: 'rxdata', label: '2 rxdata-worker processes' },
    { name: 'fleet-4', impl: 'rxdata', label: '4 rxdata-worker processes' },
    { name: 'threads-1', impl: 'rxdata', label: 'fromWorkers, 1 thread, in the trainer process (no Kafka)' },
    { name: `threads-${THREADS}`, impl: 'rxdata', label: `fromWorkers, ${THREADS} threads` },
  ],
  report(by) {
    const base = by.get('fleet-1')?.metrics.steadyBatchesPerS ?? NaN;
    const rows = [...by.values()].map((s) => [s.spec.name, s.spec.label, fmt(s.items), fmt(s.metrics.batchesPerS), fmt(s.metrics.steadyBatchesPerS), `${(s.metrics.steadyBatchesPerS / base).toFixed(2)}×`, ...memoryCells(s)]);
    const best = Math.max(...['fleet-2', 'fleet-4'].map((c) => by.get(c)?.metrics.steadyBatchesPerS ?? 0));
    return {
      title: fleetScenario.title,
      table: table(['case', 'pipeline', 'batches', 'batches/s', 'steady batches/s', 'vs 1 worker (steady)', ...memoryHeader], rows),
      verdicts: [
        {
          target: `workers scale as far as the cores allow (${THREADS} cores, shared with the trainer and the broker)`,
          measured: `best of 2 and 4 workers: ${(best / base).toFixed(2)}× one worker`,
          holds: best / base >= Math.min(1.5, THREADS * 0.7),
        },
      ],
      notes: [
        'Steady = batches/s from the moment every shard has delivered a batch (process start, tsx module loading and the consumer group join are left out); batches/s = first batch to last.',
        'Worker processes, the trainer and the mock broker share this machine\'s cores: on a 2-core machine 2 workers is the ceiling and 4 only adds contention. On separate machines (docs/fleet.md) each worker brings its own cores.',
        'Peak RSS is the trainer process\'s (workers are separate processes).',
      ],
    };
  },
};
