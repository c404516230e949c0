/**
 * Scenario 20, a fleet on Kafka: batches per second delivered to one trainer by 1, 2 and 4
 * `rxdata-worker` processes running a CPU-heavy head (JPEG decode + preprocess + pool, batches of
 * 16), against the same head on `fromWorkers` threads in the trainer's process. Mock broker
 * (librdkafka's), a fresh one per run; the trainer is `fromFleet` → consume (no-op) → acknowledge,
 * and the workers pause at `maxLag` 32 batches of lag.
 *
 * Timed from one moment for every case: each worker (process or thread) loads its module, connects,
 * starts its head and notes `ready-<shard>` in a barrier directory; once all are ready and the
 * trainer holds the topic's partitions, the bench writes `go` and every head starts producing.
 * batches/s = batches delivered to the trainer ÷ (last arrival − go): process start, tsx module
 * loading and the group join are left out, and the workers run side by side from the start.
 *
 * Cores busy: every process of the case (workers, the mock broker, the trainer; threads: the one
 * process) is sampled from /proc every 100 ms, and the CPU spent between go and the last batch,
 * divided by that window, is how many cores were busy. It says what bounds the rate: near the machine's core count, the cores; near the
 * worker count (each worker's head runs on one thread), the workers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { count, lastValueFrom } from 'rxjs';
import { consume } from '../../operators/consume.js';
import { fromWorkers } from '../../src/workers/fromWorkers.js';
import { acknowledge } from '../../connectors/kafka/acknowledge.js';
import { fromFleet } from '../../connectors/kafka/fleet/fromFleet.js';
import { kafkajsClients, type KafkaClientFactory } from '../../connectors/kafka/client.js';
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

/** When each batch arrived at the trainer, for the rates (Date.now() clock). */
class Clock {
  private readonly times: number[] = [];
  /** The moment every worker was told to go (all loaded, connected, the trainer in its group). */
  go = 0;
  get batches(): number {
    return this.times.length;
  }
  tick(at: number): void {
    this.times.push(at);
  }
  result(n: number, cpu: CpuSampler): CaseResult {
    const last = Math.max(...this.times);
    const ms = last - this.go;
    const busy = cpu.between(this.go, last);
    return {
      ms,
      items: this.batches,
      metrics: {
        batchesPerS: this.batches / (ms / 1000),
        imagesPerS: n / (ms / 1000),
        ...(busy ? { coresBusy: busy.cores, cpuMsPerBatch: busy.cpuMs / this.batches, workerCores: busy.byRole.worker ?? 0, brokerCores: busy.byRole.broker ?? 0, trainerCores: busy.byRole.trainer ?? 0, machineCores: busy.machineCores } : {}),
      },
    };
  }
}

/** Waits until `dir` holds `ready-<i>` for each of `count` shards (each worker's head has started). */
async function allReady(dir: string, count: number, failed: () => boolean): Promise<void> {
  for (;;) {
    if (failed()) throw new Error('a worker exited before it was ready');
    const ready = readdirSync(dir).filter((f) => f.startsWith('ready-')).length;
    if (ready >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const TICK_MS = 1000 / 100; // USER_HZ: /proc/<pid>/stat counts CPU in 1/100 s on Linux

/** CPU time of a process so far, ms (utime + stime), or undefined once it is gone. */
function cpuOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "(comm) ": state ppid … utime is field 14, stime 15 (1-based, comm counted as 2).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** The mock broker: this process's child whose command is the bench's mock binary. */
function brokerPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('rxdata-bench-kafka-mock')) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/** CPU time the whole machine spent busy so far, ms, from /proc/stat (every process, ours or not). */
function machineBusy(): number {
  try {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    return (f.slice(0, 8).reduce((a, b) => a + b, 0) - f[3] - f[4]) * TICK_MS;
  } catch {
    return NaN;
  }
}

/** Samples the CPU time of the case's processes every 100 ms, by role, and the machine's. */
class CpuSampler {
  private readonly samples: { at: number; byRole: Record<string, number>; machine: number }[] = [];
  private readonly last = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly pids: () => { pid: number; role: string }[]) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }
  sample(): void {
    const byRole: Record<string, number> = {};
    const self = process.cpuUsage();
    byRole.trainer = (self.user + self.system) / 1000;
    for (const { pid, role } of this.pids()) {
      // A process that exited keeps the last CPU time seen.
      const ms = cpuOf(pid) ?? this.last.get(pid) ?? 0;
      this.last.set(pid, ms);
      byRole[role] = (byRole[role] ?? 0) + ms;
    }
    this.samples.push({ at: Date.now(), byRole, machine: machineBusy() });
  }
  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
  /** Cores busy between two instants (Date.now() clock), in all and by role. */
  between(from: number, to: number): { cores: number; cpuMs: number; byRole: Record<string, number>; machineCores: number } | undefined {
    const a = [...this.samples].reverse().find((x) => x.at <= from) ?? this.samples[0];
    const b = this.samples.find((x) => x.at >= to) ?? this.samples[this.samples.length - 1];
    const secs = (b.at - a.at) / 1000;
    if (!(secs > 0)) return undefined;
    const byRole: Record<string, number> = {};
    let cpuMs = 0;
    for (const role of Object.keys(b.byRole)) {
      const d = b.byRole[role] - (a.byRole[role] ?? 0);
      byRole[role] = d / 1000 / secs;
      cpuMs += d;
    }
    return { cores: cpuMs / 1000 / secs, cpuMs, byRole, machineCores: (b.machine - a.machine) / 1000 / secs };
  }
}

async function fleet(workers: number, n: number, options: RunOptions): Promise<CaseResult> {
  const mock = await startMockBroker(TOPIC, PARTITIONS);
  const brokers = mock.brokers.join(',');
  const groupId = `trainer-${options.warmup ? 'w' : 'm'}`;
  const barrier = mkdtempSync(join(tmpdir(), 'rxdata-fleet-bench-'));
  const args: FleetHeadArgs = { images: n, batchSize: BATCH, barrier };
  const children: ChildProcess[] = [];
  try {
    // The trainer joins its group first: when the workers go, batches flow at once.
    let joined: () => void = () => undefined;
    const inGroup = new Promise<void>((resolve) => (joined = resolve));
    const clients: KafkaClientFactory = {
      ...kafkajsClients,
      consumer(connection, settings) {
        const consumer = kafkajsClients.consumer(connection, settings);
        consumer.onGroupJoin((assignment) => assignment[TOPIC]?.length === PARTITIONS && joined());
        return consumer;
      },
    };
    const clock = new Clock();
    const trained = lastValueFrom(
      fromFleet<Batch>({ kafka: { brokers, logLevel: 'nothing' }, topic: TOPIC, groupId, sessionTimeout: 6000, rebalanceTimeout: 3000, heartbeatInterval: 500, maxWaitTimeInMs: 20, commitIntervalMs: 200, groupPollMs: 100, epochs: 1, clients }).pipe(
        consume(async (r) => {
          clock.tick(Date.now());
          return r;
        }),
        acknowledge(),
        count(),
      ),
    );
    for (let i = 0; i < workers; i++) {
      const child = spawn(
        process.execPath,
        [...process.execArgv, cli, fileURLToPath(headUrl), '--brokers', brokers, '--topic', TOPIC, '--shard', `${i}/${workers}`, '--group', groupId, '--max-lag', '32', '--args', JSON.stringify(args), '--quiet', '--no-resume'],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      children.push(child);
    }
    const exits = children.map((c) => new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code))));
    await Promise.all([inGroup, allReady(barrier, workers, () => children.some((c) => c.exitCode !== null))]);
    const broker = brokerPid();
    const cpu = new CpuSampler(() => [...children.map((c) => ({ pid: c.pid!, role: 'worker' })), ...(broker ? [{ pid: broker, role: 'broker' }] : [])]);
    clock.go = Date.now();
    writeFileSync(join(barrier, 'go'), '');
    await trained;
    cpu.stop();
    const codes = await Promise.all(exits);
    const expected = Math.ceil(n / workers / BATCH) * workers;
    if (codes.some((c) => c !== 0)) throw new Error(`worker exit codes ${codes.join(',')}`);
    if (clock.batches !== expected) throw new Error(`fleet-${workers}: ${clock.batches} of ${expected} batches`);
    return clock.result(n, cpu);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    mock.stop();
    rmSync(barrier, { recursive: true, force: true });
  }
}

async function threads(workers: number, n: number): Promise<CaseResult> {
  const barrier = mkdtempSync(join(tmpdir(), 'rxdata-fleet-bench-'));
  const clock = new Clock();
  // process.cpuUsage() counts every thread of the process: the worker threads count as "trainer" here.
  let cpu: CpuSampler | undefined;
  try {
    const trained = lastValueFrom(
      fromWorkers<Batch, FleetHeadArgs>(headUrl, { workers, args: { images: n, batchSize: BATCH, barrier } }).pipe(
        consume(async (b) => {
          clock.tick(Date.now());
          return b;
        }),
        count(),
      ),
    );
    let done = false;
    void trained.finally(() => (done = true));
    await allReady(barrier, workers, () => done);
    cpu = new CpuSampler(() => []);
    clock.go = Date.now();
    writeFileSync(join(barrier, 'go'), '');
    await trained;
    cpu.stop();
    return clock.result(n, cpu);
  } finally {
    cpu?.stop();
    rmSync(barrier, { recursive: true, force: true });
  }
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
    const base = by.get('fleet-1')?.metrics.batchesPerS ?? NaN;
    /** What bounds a case: the cores when nearly all are busy, else the workers (one thread each). */
    const bound = (name: string, cores: number, machine: number): string => {
      const w = Number(/-(\d+)$/.exec(name)?.[1] ?? 1);
      if (cores >= 0.85 * THREADS) return `cores (${THREADS})`;
      if (cores >= 0.85 * w) return `workers (${w})`;
      if (machine >= 0.85 * THREADS) return 'other jobs on the machine (not quiet)';
      return 'waits (broker, trainer, lag)';
    };
    const rows = [...by.values()].map((s) => [
      s.spec.name,
      s.spec.label,
      fmt(s.items),
      fmt(s.metrics.batchesPerS),
      `${(s.metrics.batchesPerS / base).toFixed(2)}×`,
      s.metrics.coresBusy === undefined ? '–' : `${s.metrics.coresBusy.toFixed(2)} (w ${s.metrics.workerCores.toFixed(2)} · b ${s.metrics.brokerCores.toFixed(2)} · t ${s.metrics.trainerCores.toFixed(2)})`,
      s.metrics.cpuMsPerBatch === undefined ? '–' : fmt(s.metrics.cpuMsPerBatch),
      s.metrics.machineCores === undefined ? '–' : fmt(s.metrics.machineCores),
      s.metrics.coresBusy === undefined ? '–' : bound(s.spec.name, s.metrics.coresBusy, s.metrics.machineCores ?? 0),
      ...memoryCells(s),
    ]);
    const perBatch = by.get('threads-1')?.metrics.cpuMsPerBatch;
    const ceiling = perBatch ? (THREADS * 1000) / perBatch : NaN;
    const best = Math.max(...['fleet-2', 'fleet-4'].map((c) => by.get(c)?.metrics.batchesPerS ?? 0));
    return {
      title: fleetScenario.title,
      table: table(['case', 'pipeline', 'batches', 'batches/s', 'vs 1 worker', 'cores busy (workers · broker · trainer)', 'CPU ms/batch', 'machine cores busy', 'bound', ...memoryHeader], rows),
      verdicts: [
        {
          target: `workers scale as far as the cores allow (${THREADS} cores, shared with the trainer and the broker)`,
          measured: `best of 2 and 4 workers: ${(best / base).toFixed(2)}× one worker`,
          holds: best / base >= Math.min(1.5, THREADS * 0.7),
        },
      ],
      notes: [
        'batches/s = batches delivered ÷ (last arrival − go): every worker loaded, connected and its head started, and the trainer in its group, before go (a barrier), so start-up is left out and the workers run side by side.',
        'Worker processes, the trainer and the mock broker share this machine\'s cores: on a 2-core machine 2 workers is the ceiling and 4 only adds contention. On separate machines (docs/fleet.md) each worker brings its own cores.',
        'Peak RSS is the trainer process\'s (workers are separate processes).',
        `Ceiling on this machine: ${THREADS} cores ÷ the head's CPU per batch (threads-1: ${perBatch ? fmt(perBatch) : '?'} ms) = ${Number.isFinite(ceiling) ? ceiling.toFixed(1) : '?'} batches/s, before the broker's and the trainer's share. Cores busy near ${THREADS}: the cores bound the rate, and more workers only add contention; near the worker count: add workers (or machines).`,
        'Cores busy is sampled from /proc (every process of the case, 100 ms) from go to the last batch; machine cores busy is the whole machine (/proc/stat), ours and everyone else\'s: when it is near the core count while ours is not, other jobs took the cores and the rates mean little.',
      ],
    };
  },
};
