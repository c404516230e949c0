/**
 * Starts librdkafka's mock cluster (a real Kafka-protocol broker) for tests and examples.
 *
 * ```
 * startCluster() ──spawn──▶ kafka-mock N ──stdout──▶ "127.0.0.1:p1,127.0.0.1:p2"
 *   createTopic / brokerDown / brokerUp / failRequests ──stdin line──▶ "ok"
 *   stop() ──stdin EOF──▶ exits
 * ```
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const binary = `${here}kafka-mock`;

export interface MockCluster {
  /** Comma-separated `host:port` list for kafkajs' `brokers`. */
  readonly bootstrap: string;
  readonly brokers: string[];
  /** Creates a topic (kafkajs' admin.createTopics fails against the mock). */
  createTopic(name: string, partitions?: number, replication?: number): Promise<void>;
  /** Takes broker `id` (1-based) down: its connections close and it refuses new ones. */
  brokerDown(id: number): Promise<void>;
  brokerUp(id: number): Promise<void>;
  /** The next `count` requests of Kafka API `apiKey` (8: OffsetCommit), cluster-wide, fail with error `code`. */
  failRequests(apiKey: number, count: number, code: number): Promise<void>;
  /** Drops the errors still queued for `apiKey`. */
  clearRequestErrors(apiKey: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Spawns a mock cluster of `brokers` brokers bound to 127.0.0.1; builds the harness if needed.
 *
 * @example
 * ```ts
 * const cluster = await startCluster({ brokers: 3 });
 * await cluster.createTopic('t', 4, 1);
 * // ... kafkajs with { brokers: cluster.brokers }
 * await cluster.stop();
 * ```
 */
export async function startCluster(options: { brokers?: number } = {}): Promise<MockCluster> {
  // build.sh rebuilds only a binary older than mock.c; a stale one that cannot be rebuilt still
  // serves every command it knows.
  const built = spawnSync('bash', [`${here}build.sh`], { stdio: 'inherit' });
  if (built.status !== 0 && !existsSync(binary)) throw new Error('kafka mock harness: build failed (needs librdkafka-dev, gcc, pkg-config)');
  const child: ChildProcessWithoutNullStreams = spawn(binary, [String(options.brokers ?? 1)], { stdio: ['pipe', 'pipe', 'pipe'] });
  // The mock's own log lines are noise in test output; keep only the last few for failures.
  const stderr: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString());
    if (stderr.length > 20) stderr.shift();
  });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let dead = false;
  child.once('exit', () => {
    dead = true;
    for (const w of waiting.splice(0)) w('error harness exited');
  });
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = (): Promise<string> => (dead ? Promise.resolve('error harness exited') : new Promise((resolve) => waiting.push(resolve)));

  const bootstrap = await nextLine();
  if (bootstrap.startsWith('error')) throw new Error(`kafka mock harness failed to start: ${stderr.join('')}`);
  // One command at a time: answers come back in order.
  let chain = Promise.resolve();
  const command = (line: string): Promise<void> => {
    const run = chain.then(async () => {
      const answer = nextLine();
      child.stdin.write(`${line}\n`);
      const reply = await answer;
      if (reply !== 'ok') throw new Error(`kafka mock: '${line}' → ${reply}`);
    });
    chain = run.catch(() => undefined);
    return run;
  };
  return {
    bootstrap,
    brokers: bootstrap.split(','),
    createTopic: (name, partitions = 1, replication = 1) => command(`topic ${name} ${partitions} ${replication}`),
    brokerDown: (id) => command(`down ${id}`),
    brokerUp: (id) => command(`up ${id}`),
    failRequests: (apiKey, count, code) => command(`errors ${apiKey} ${count} ${code}`),
    clearRequestErrors: (apiKey) => command(`clear ${apiKey}`),
    async stop() {
      if (!dead) {
        child.stdin.end();
        // A wedged harness must not hold the test process open.
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
