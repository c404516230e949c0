/**
 * `rxdata-worker`: the command line of `runWorker`, and a supervisor that runs several shards as
 * child processes and restarts those that die.
 *
 * ```
 * rxdata-worker head.js --brokers k1:9092 --topic batches --shard 3/8 --epochs 10 --group trainers
 * rxdata-worker head.js --brokers k1:9092 --topic batches --shards 0-3/8 --restarts 5 …   (4 processes, restarted)
 * ```
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { messageOf } from '../../../src/errors.js';
import type { KafkaConnection } from '../client.js';

const USAGE = `usage: rxdata-worker <head module> --brokers host:port[,…] --topic T (--shard i/N | --shards a-b/N)
  [--epochs E] [--mode bounded|streaming] [--group TRAINERS] [--max-lag N] [--lag-poll-ms MS]
  [--args JSON] [--no-resume] [--restarts R] [--epoch-topic T2] [--client-id ID] [--quiet]
  [--ssl] [--ssl-ca FILE] [--sasl-mechanism plain|scram-sha-256|scram-sha-512 --sasl-username U]
  (the SASL password is read from the environment variable RXDATA_KAFKA_PASSWORD, never a flag)

Runs the pipeline head exported by <head module> (definePipelineHead) on shard i of N and publishes
its batches to topic T; with --shards, one process per shard, each restarted up to R times if it dies.
Prints a JSON report per shard on stdout.`;

const options = {
  brokers: { type: 'string' },
  topic: { type: 'string' },
  shard: { type: 'string' },
  shards: { type: 'string' },
  epochs: { type: 'string' },
  mode: { type: 'string' },
  group: { type: 'string' },
  'max-lag': { type: 'string' },
  'lag-poll-ms': { type: 'string' },
  args: { type: 'string' },
  'no-resume': { type: 'boolean' },
  restarts: { type: 'string' },
  'client-id': { type: 'string' },
  ssl: { type: 'boolean' },
  'ssl-ca': { type: 'string' },
  'sasl-mechanism': { type: 'string' },
  'sasl-username': { type: 'string' },
  'epoch-topic': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

/** `"3/8"` → { index: 3, count: 8 }; `"0-3/8"` → indexes 0..3 of 8. */
function parseShards(text: string, range: boolean): { indexes: number[]; count: number } {
  const m = range ? /^(\d+)(?:-(\d+))?\/(\d+)$/.exec(text) : /^(\d+)\/(\d+)$/.exec(text);
  if (!m) throw new UsageError(range ? `--shards takes a-b/N (e.g. 0-3/8), got '${text}'` : `--shard takes i/N (e.g. 3/8), got '${text}'`);
  const count = Number(range ? m[3] : m[2]);
  const from = Number(m[1]);
  const to = range && m[2] !== undefined ? Number(m[2]) : from;
  if (!(count >= 1 && from <= to && to < count)) throw new UsageError(`shard indexes must lie in 0..${count - 1}, got '${text}'`);
  return { indexes: Array.from({ length: to - from + 1 }, (_, k) => from + k), count };
}

const int = (name: string, value: string | undefined, min: number): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= min)) throw new UsageError(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
};

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** TLS and SASL from the flags; the password only from the environment (a flag shows in `ps`). */
function security(values: { ssl?: boolean; 'ssl-ca'?: string; 'sasl-mechanism'?: string; 'sasl-username'?: string }): Pick<KafkaConnection, 'ssl' | 'sasl'> {
  const out: { ssl?: KafkaConnection['ssl']; sasl?: KafkaConnection['sasl'] } = {};
  if (values['ssl-ca'] !== undefined) {
    let ca: string;
    try {
      ca = readFileSync(values['ssl-ca'], 'utf8');
    } catch (error) {
      throw new UsageError(`--ssl-ca: cannot read ${values['ssl-ca']}: ${messageOf(error)}`);
    }
    out.ssl = { ca: [ca] };
  } else if (values.ssl) out.ssl = true;
  const mechanism = values['sasl-mechanism'];
  if (mechanism !== undefined || values['sasl-username'] !== undefined) {
    const m = MECHANISMS.find((x) => x === mechanism);
    if (!m) throw new UsageError(`--sasl-mechanism is one of ${MECHANISMS.join(', ')}, got '${mechanism ?? ''}'`);
    const username = values['sasl-username'];
    if (!username) throw new UsageError('--sasl-mechanism needs --sasl-username');
    const password = process.env.RXDATA_KAFKA_PASSWORD;
    if (!password) throw new UsageError('SASL needs the password in the environment variable RXDATA_KAFKA_PASSWORD');
    out.sasl = { mechanism: m, username, password } as KafkaConnection['sasl'];
  }
  return out;
}

/** Runs one shard in this process; resolves with the exit code. */
async function runOne(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [module] = positionals;
  if (!module || !values.brokers || !values.topic || (!values.shard && !values.shards)) throw new UsageError('missing <head module>, --brokers, --topic or --shard');
  if (values.shards) return supervise(argv, module, parseShards(values.shards, true), int('restarts', values.restarts, 0) ?? 3, values.quiet === true);
  const { indexes, count } = parseShards(values.shard!, false);
  const mode = values.mode ?? 'bounded';
  if (mode !== 'bounded' && mode !== 'streaming') throw new UsageError(`--mode is bounded or streaming, got '${mode}'`);
  let args: unknown;
  try {
    args = values.args === undefined ? undefined : JSON.parse(values.args);
  } catch (error) {
    throw new UsageError(`--args must be JSON: ${messageOf(error)}`);
  }
  const secure = security(values);
  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort(new Error(sig)));
  // Loaded here, not at the top: a supervisor only forks, and need not load Kafka and the library.
  const { runWorker } = await import('./runWorker.js');
  const report = await runWorker(module, {
    kafka: { brokers: values.brokers, clientId: values['client-id'] ?? `rxdata-worker-${indexes[0]}`, ...secure, logLevel: 'nothing' },
    epochTopic: values['epoch-topic'],
    topic: values.topic,
    shard: { index: indexes[0], count },
    args,
    mode,
    epochs: int('epochs', values.epochs, 1),
    groupId: values.group,
    maxLag: int('max-lag', values['max-lag'], 1),
    lagPollMs: int('lag-poll-ms', values['lag-poll-ms'], 1),
    resume: values['no-resume'] !== true,
    signal: controller.signal,
    onEpoch: values.quiet ? undefined : (epoch, batches) => process.stderr.write(`rxdata-worker shard ${indexes[0]}/${count}: epoch ${epoch} published (${batches} batches)\n`),
  });
  // The process's CPU time too: what a benchmark needs to say how busy the cores were.
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ ...report, cpuMs: Math.round((cpu.user + cpu.system) / 1000) })}\n`);
  return 0;
}

/** Runs each shard as a child process of this same command, restarting one that dies. */
async function supervise(argv: string[], _module: string, shards: { indexes: number[]; count: number }, restarts: number, quiet: boolean): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  // The children get the same arguments with --shard i/N in place of --shards.
  const base: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--shards' || argv[i] === '--restarts') i++;
    else if (!argv[i].startsWith('--shards=') && !argv[i].startsWith('--restarts=')) base.push(argv[i]);
  }
  const children = new Set<ReturnType<typeof fork>>();
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      stopping = true;
      for (const c of children) c.kill(sig);
    });
  }
  const one = async (index: number): Promise<number> => {
    for (let attempt = 0; ; attempt++) {
      const child = fork(self, [...base, '--shard', `${index}/${shards.count}`], { execArgv: process.execArgv, stdio: 'inherit' });
      children.add(child);
      const code = await new Promise<number>((resolve) => child.once('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1))));
      children.delete(child);
      if (code === 0 || stopping) return code;
      if (attempt >= restarts) {
        process.stderr.write(`rxdata-worker: shard ${index}/${shards.count} failed ${attempt + 1} times (exit ${code}); giving up\n`);
        return code;
      }
      // The restarted worker reads the topic to continue where the dead one stopped.
      if (!quiet) process.stderr.write(`rxdata-worker: shard ${index}/${shards.count} exited ${code}; restarting (${attempt + 1} of ${restarts})\n`);
    }
  };
  const codes = await Promise.all(shards.indexes.map(one));
  return codes.find((c) => c !== 0) ?? 0;
}

runOne(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(error instanceof UsageError ? `rxdata-worker: ${error.message}\n\n${USAGE}\n` : `rxdata-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
  },
);
