/**
 * Test helpers around the mock cluster: producing fixtures with plain kafkajs, reading committed
 * offsets, and counting TCP connections to the cluster (to prove teardown closed everything).
 */
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import type { MockCluster } from './cluster.js';

/** Settings that make the mock's group protocol quick in tests (rejoins wait on session timeouts). */
export const fastGroup = { sessionTimeout: 3000, rebalanceTimeout: 1000, heartbeatInterval: 300, maxWaitTimeInMs: 100, logLevel: 'nothing' as const };

let unique = 0;
/** A name no other test in this process uses. */
export const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${++unique}`;

/**
 * Produces `count` messages round-robin over `partitions` partitions: value is JSON `{ i }`,
 * key `String(i)`. `poison` indexes get the value `not json`.
 */
export async function produce(cluster: MockCluster, topic: string, count: number, partitions: number, poison: readonly number[] = []): Promise<void> {
  const kafka = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  try {
    for (let from = 0; from < count; from += 1000) {
      const messages = [];
      for (let i = from; i < Math.min(count, from + 1000); i++) {
        messages.push({ key: String(i), value: poison.includes(i) ? 'not json' : JSON.stringify({ i }), partition: i % partitions });
      }
      await producer.send({ topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

/** The group's committed offsets for `topic`, by partition ('-1' where none). */
export async function committedOffsets(cluster: MockCluster, groupId: string, topic: string): Promise<Record<number, string>> {
  const kafka = new Kafka({ brokers: cluster.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return Object.fromEntries(entry.partitions.map((p) => [p.partition, p.offset]));
  } finally {
    await admin.disconnect();
  }
}

/** Established TCP connections from this process's host to any of the cluster's ports. */
export function connectionsTo(cluster: MockCluster): number {
  const ports = new Set(cluster.brokers.map((b) => Number(b.split(':')[1])));
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      // Client side of a connection: the remote address is the broker port; state 01 = ESTABLISHED.
      const remotePort = parseInt(cols[2].split(':')[1], 16);
      if (cols[3] === '01' && ports.has(remotePort)) n++;
    }
  }
  return n;
}

/** Polls `check` every 50 ms until it is true or `ms` pass; returns its last value. */
export async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
