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

/** On the PATH? */
function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/**
 * What building the mock broker lacks here, as Debian packages (empty when nothing is missing,
 * or when the binary is built already and up to date).
 */
export function missingForMockBroker(): string[] {
  const missing: string[] = [];
  if (!existsSync('/usr/include/librdkafka/rdkafka_mock.h')) missing.push('librdkafka-dev');
  if (!onPath('gcc')) missing.push('gcc', 'libc6-dev');
  if (!onPath('pkg-config')) missing.push('pkg-config');
  return missing;
}

/** The message for a mock broker that cannot be built: exactly what to install. */
export function mockBrokerHelp(missing: readonly string[]): string {
  return (
    `the Kafka mock broker (librdkafka's mock cluster, built from test/harness/kafka/mock.c) needs ${missing.join(', ')}: ` +
    `install with \`sudo apt-get install ${missing.join(' ')}\` (Debian/Ubuntu; \`npm test\` does this when run as root), ` +
    'or use a broker of your own: KAFKA_BROKERS=host:9092'
  );
}

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
  if (built.status !== 0 && !existsSync(binary)) {
    const missing = missingForMockBroker();
    throw new Error(missing.length > 0 ? `kafka mock harness: ${mockBrokerHelp(missing)}` : 'kafka mock harness: build failed (see the gcc output above)');
  }
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
