/**
 * The `rxdata-worker` bin as users run it: `node bin/rxdata-worker.js` over the built package
 * (dist/, rebuilt here when older than the sources), with a plain-JavaScript head that imports
 * `rxdata` by name.
 */
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { lastValueFrom, toArray } from 'rxjs';
import { consume } from '../operators/consume.js';
import { acknowledge } from '../connectors/kafka/acknowledge.js';
import { epochTopicOf, fromFleet } from '../connectors/kafka/fleet/index.js';
import { startCluster, type MockCluster } from './harness/kafka/cluster.js';
import { fastGroup, uniqueName } from './harness/kafka/helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'rxdata-worker.js');
const head = join(root, 'test', 'fixtures', 'fleet', 'head.mjs');
const built = join(root, 'dist', 'connectors', 'kafka', 'fleet', 'cli.js');

/** Newest modification time of the .ts files the build compiles. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

let cluster: MockCluster;
test.before(async () => {
  const stale = !existsSync(built) || statSync(built).mtimeMs < Math.max(...['src', 'operators', 'connectors'].map((d) => newestSource(join(root, d))));
  // The bin runs dist/: build it as `npm run build` does when the sources are newer.
  if (stale) await promisify(execFile)(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root });
  cluster = await startCluster({ brokers: 1 });
});
test.after.always(async () => {
  await cluster?.stop();
});

function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    // Plain node, no tsx: what `npx rxdata-worker` runs.
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => resolve({ code, out, err }));
  });
}

test.serial('node bin/rxdata-worker.js --help prints the usage and exits 0; SASL without its password is a usage error', async (t) => {
  t.timeout(120_000);
  const help = await run(['--help']);
  t.is(help.code, 0);
  t.regex(help.out, /^usage: rxdata-worker <head module> --brokers/);
  t.regex(help.out, /RXDATA_KAFKA_PASSWORD/);
  const { RXDATA_KAFKA_PASSWORD: _drop, ...env } = process.env;
  const sasl = await run([head, '--brokers', cluster.bootstrap, '--topic', 't', '--shard', '0/1', '--sasl-mechanism', 'scram-sha-512', '--sasl-username', 'u'], env);
  t.is(sasl.code, 2);
  t.regex(sasl.err, /SASL needs the password in the environment variable RXDATA_KAFKA_PASSWORD/);
  const mech = await run([head, '--brokers', cluster.bootstrap, '--topic', 't', '--shard', '0/1', '--sasl-mechanism', 'gssapi', '--sasl-username', 'u'], env);
  t.is(mech.code, 2);
  t.regex(mech.err, /--sasl-mechanism is one of plain, scram-sha-256, scram-sha-512, got 'gssapi'/);
});

test.serial('the built bin with a JavaScript head: two shards under --shards publish two epochs; a trainer reads each element once per epoch', async (t) => {
  t.timeout(180_000);
  const topic = uniqueName('fleet-bin');
  await cluster.createTopic(topic, 2, 1);
  await cluster.createTopic(epochTopicOf(topic), 1, 1);
  const worker = await run([head, '--brokers', cluster.bootstrap, '--topic', topic, '--shards', '0-1/2', '--epochs', '2', '--args', '{"elements":30,"batchSize":4}', '--quiet']);
  t.is(worker.code, 0, worker.err);
  const reports = worker.out.trim().split('\n').map((l) => JSON.parse(l) as { shard: { index: number }; epochs: number; batches: number; cpuMs: number });
  t.deepEqual(reports.map((r) => [r.shard.index, r.epochs, r.batches]).sort(), [[0, 2, 8], [1, 2, 8]]);
  t.true(reports.every((r) => r.cpuMs > 0));
  const { logLevel, ...group } = fastGroup;
  const trained = await lastValueFrom(
    fromFleet<{ id: { data: Int32Array } }>({ kafka: { brokers: cluster.bootstrap, logLevel }, ...group, topic, groupId: uniqueName('g'), epochs: 2, groupPollMs: 100, commitIntervalMs: 100 }).pipe(
      consume(async (r) => r),
      acknowledge(),
      toArray(),
    ),
  );
  for (const epoch of [0, 1]) {
    const ids = trained.filter((r) => r.fleet.epoch === epoch).flatMap((r) => Array.from(r.value.id.data)).sort((a, b) => a - b);
    t.deepEqual(ids, Array.from({ length: 30 }, (_, i) => i), `epoch ${epoch}`);
  }
});
