/**
 * A Kafka broker for scenario 6: librdkafka's mock cluster (`rd_kafka_mock_cluster_new`) in a
 * 30-line C program, compiled once into the temp directory. It prints its bootstrap address,
 * creates the topic, and lives until its stdin closes (so it dies with the process that started it).
 * Needs gcc and librdkafka-dev (`apt-get install librdkafka-dev`).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const source = `#include <stdio.h>
#include <stdlib.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
int main(int argc, char **argv) {
  char errstr[512];
  const char *topic = argc > 1 ? argv[1] : "bench";
  int partitions = argc > 2 ? atoi(argv[2]) : 1;
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) { fprintf(stderr, "%s\\n", errstr); return 1; }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
  if (!mc) { fprintf(stderr, "mock cluster failed\\n"); return 1; }
  if (rd_kafka_mock_topic_create(mc, topic, partitions, 1)) { fprintf(stderr, "topic failed\\n"); return 1; }
  printf("%s\\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  while (getchar() != EOF) {}
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
`;

/** Why the mock broker cannot be built here, if so. */
export function mockUnavailable(): string | undefined {
  if (!existsSync('/usr/include/librdkafka/rdkafka_mock.h')) return 'needs librdkafka-dev (rdkafka_mock.h) for the mock broker';
  try {
    binary();
  } catch (error) {
    return `the mock broker does not build: ${String(error).split('\n')[0]}`;
  }
  return undefined;
}

function binary(): string {
  const hash = createHash('sha1').update(source).digest('hex').slice(0, 10);
  const exe = join(tmpdir(), `rxdata-bench-kafka-mock-${hash}`);
  if (existsSync(exe)) return exe;
  const c = `${exe}.c`;
  writeFileSync(c, source);
  execFileSync('gcc', ['-O2', '-o', exe, c, '-lrdkafka'], { stdio: 'pipe' });
  return exe;
}

export interface MockBroker {
  readonly brokers: string[];
  stop(): void;
}

/** Starts a one-broker mock cluster with `topic` created. */
export function startMockBroker(topic: string, partitions = 1): Promise<MockBroker> {
  // stderr ignored: librdkafka warns that its own (unused) client has no bootstrap servers.
  const child: ChildProcess = spawn(binary(), [topic, String(partitions)], { stdio: ['pipe', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`mock broker exited ${code}`)));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      resolve({
        brokers: out.slice(0, nl).trim().split(','),
        stop: () => {
          child.stdin!.end();
          child.kill();
        },
      });
    });
  });
}
