/**
 * The connector's own cost per record, without a broker: the same fetched batches (kafkajs'
 * message shape, 100-byte values, 250 per batch as the mock returns them) handed to a bare
 * eachBatch loop and to fromKafka (through a client that replays them) → map → take → batch(256)
 * → consume. CPU µs per record of each, best of several rounds: what fromKafka and the pipeline
 * add on top of kafkajs, free of the broker's timing. Two partial pipelines split the cost:
 * fromKafka into a plain subscriber, and fromKafka → map → take. `npx tsx bench/kafkaMicro.ts [rounds]`
 */
import { count, lastValueFrom, map, take } from 'rxjs';
import { batch } from '../operators/batch.js';
import { consume } from '../operators/consume.js';
import { fromKafka, type FetchedBatch, type KafkaClientFactory, type RawMessage } from '../connectors/kafka/index.js';
import type { NDArray } from '../src/types.js';

const N = 100_000;
const PER_BATCH = 250;
const PARTITIONS = 4;
const BYTES = 100;
const BATCH = 256;

/** Batches as kafkajs hands them over (its message objects carry these fields and a few more). */
function fetched(): { partition: number; messages: RawMessage[] }[] {
  const out: { partition: number; messages: RawMessage[] }[] = [];
  const next = new Array<number>(PARTITIONS).fill(0);
  const value = Buffer.alloc(BYTES, 7);
  for (let i = 0; i < N / PER_BATCH; i++) {
    const partition = i % PARTITIONS;
    const messages = Array.from({ length: PER_BATCH }, (_, k) => ({
      magicByte: 2,
      attributes: 0,
      timestamp: String(1_700_000_000_000 + k),
      offset: String(next[partition]++),
      key: Buffer.from(String(i * PER_BATCH + k)),
      value: Buffer.from(value),
      headers: {},
      isControlRecord: false,
      batchContext: {},
    })) as RawMessage[];
    out.push({ partition, messages });
  }
  return out;
}
const data = fetched();
const highs = (): string[] => Array.from({ length: PARTITIONS }, (_, p) => String(data.filter((b) => b.partition === p).length * PER_BATCH));

function batchOf(b: { partition: number; messages: RawMessage[] }, high: string): FetchedBatch {
  return { topic: 't', partition: b.partition, highWatermark: high, messages: b.messages, resolveOffset: () => undefined, heartbeat: async () => undefined, isActive: () => true };
}

const clients: KafkaClientFactory = {
  consumer() {
    let join: ((a: Record<string, number[]>) => void) | undefined;
    return {
      connect: async () => undefined,
      subscribe: async () => undefined,
      async run(handler) {
        join?.({ t: Array.from({ length: PARTITIONS }, (_, p) => p) });
        const h = highs();
        for (const b of data) await handler(batchOf(b, h[b.partition]));
      },
      seek: () => undefined,
      pause: () => undefined,
      commitOffsets: async () => undefined,
      onGroupJoin: (l) => void (join = l),
      onRebalancing: () => undefined,
      onCrash: () => undefined,
      disconnect: async () => undefined,
    };
  },
  admin() {
    return {
      connect: async () => undefined,
      listTopics: async () => ['t'],
      fetchTopicOffsets: async () => highs().map((high, partition) => ({ partition, low: '0', high })),
      fetchTopicOffsetsByTimestamp: async () => [],
      fetchCommittedOffsets: async () => [],
      disconnect: async () => undefined,
    };
  },
  producer() {
    throw new Error('no producer');
  },
};

const cpu = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function bare(): Promise<number> {
  const h = highs();
  let rows = new Uint8Array(BATCH * BYTES);
  let filled = 0;
  let seen = 0;
  let batches = 0;
  const t = cpu();
  for (const b of data) {
    // kafkajs awaits each eachBatch call.
    await (async ({ messages }: FetchedBatch) => {
      for (const m of messages) {
        if (seen >= N) break;
        seen++;
        rows.set(m.value!, filled * BYTES);
        if (++filled === BATCH) {
          batches++;
          rows = new Uint8Array(BATCH * BYTES);
          filled = 0;
        }
      }
    })(batchOf(b, h[b.partition]));
  }
  if (batches === 0) throw new Error('no batches');
  return (cpu() - t) / N;
}

async function rxdata(): Promise<number> {
  const source = fromKafka({ brokers: 'fake:9092', topics: 't', groupId: 'g', start: 'earliest', commit: 'none', highWaterMark: 2048, clients, mode: 'bounded' });
  let t = 0;
  const n = await lastValueFrom(
    source.pipe(
      map((r) => {
        if (t === 0) t = cpu();
        return r.value;
      }),
      take(N),
      batch(BATCH),
      consume((b: NDArray) => b),
      count(),
    ),
  );
  const us = (cpu() - t) / N;
  await source.commit();
  if (n !== Math.ceil(N / BATCH)) throw new Error(`${n} batches`);
  return us;
}

/** fromKafka alone ('source': a plain subscriber counts) or with the bench's map → take ('mapTake'). */
async function partial(kind: 'source' | 'mapTake'): Promise<number> {
  const source = fromKafka({ brokers: 'fake:9092', topics: 't', groupId: 'g', start: 'earliest', commit: 'none', highWaterMark: 2048, clients, mode: 'bounded' });
  let t = 0;
  let seen = 0;
  if (kind === 'source') {
    await new Promise<void>((resolve, reject) => {
      source.subscribe({
        next: () => {
          if (t === 0) t = cpu();
          if (++seen === N) resolve();
        },
        error: reject,
        complete: () => resolve(),
      });
    });
  } else {
    seen = await lastValueFrom(
      source.pipe(
        map((r) => {
          if (t === 0) t = cpu();
          return r.value;
        }),
        take(N),
        count(),
      ),
    );
  }
  const us = (cpu() - t) / N;
  await source.commit();
  if (seen !== N) throw new Error(`${kind}: ${seen} records`);
  return us;
}

const rounds = Number(process.argv[2] ?? 7);
const res: Record<'bare' | 'source' | 'mapTake' | 'rxdata', number[]> = { bare: [], source: [], mapTake: [], rxdata: [] };
for (let r = 0; r < rounds; r++) {
  res.bare.push(await bare());
  res.source.push(await partial('source'));
  res.mapTake.push(await partial('mapTake'));
  res.rxdata.push(await rxdata());
}
// The first round warms the JIT up and is dropped; the best round is the one least disturbed by other load.
const best = (v: number[]): number => Math.min(...v.slice(1));
const med = (v: number[]): number => [...v.slice(1)].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];
const labels = { bare: 'bare loop (copies values into batches)', source: 'fromKafka → plain subscriber', mapTake: 'fromKafka → map → take', rxdata: 'fromKafka → map → take → batch → consume' };
for (const [k, label] of Object.entries(labels) as [keyof typeof res, string][]) {
  console.log(`${label.padEnd(44)} best ${best(res[k]).toFixed(3)} median ${med(res[k]).toFixed(3)} µs/record`);
}
console.log(`added by the whole pipeline, best ${(best(res.rxdata) - best(res.bare)).toFixed(3)} µs/record`);
process.exit(0);
