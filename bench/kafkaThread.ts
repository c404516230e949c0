/**
 * `fromKafka` with kafkajs on the main thread against `consumerThread: 'worker'`, behind a
 * training step of 0, 1 and 2 ms per 256 records (a busy wait standing in for the step), on the
 * mock broker: `npx tsx bench/kafkaThread.ts [rounds]`. Needs librdkafka-dev and gcc, as
 * scenario 6 does.
 *
 * Each subscription stays open while the topic is filled with 51,200 records and its pipeline
 * is held (so each pass times reading records that are all there, with warm code), then reads
 * them: one pass is the time from opening the pipeline to the last record. Modes alternate;
 * medians of the passes. What it shows: a consumer thread takes kafkajs' decoding off the thread
 * that trains, and pays for the hand-over (pack ~0.1 µs, unpack ~0.15 µs a record), so it wins
 * behind a step of 1–2 ms per batch and is about even (either way by run) with none.
 */
import { Kafka, logLevel } from 'kafkajs';
import { map } from 'rxjs';
import { batch } from '../operators/batch.js';
import { consume } from '../operators/consume.js';
import { fromKafka } from '../connectors/kafka/index.js';
import type { NDArray } from '../src/types.js';
import { startMockBroker } from './kafkaMock.js';
import { busyWait, median } from './lib.js';

const BATCH = 256;
const N = BATCH * 200;
const PASSES = 4;
const STEPS_MS = [0, 1, 2];
const rounds = Number(process.argv[2] ?? 2);

const mock = await startMockBroker('bench', 4);
const kafka = new Kafka({ clientId: 'rxdata-bench', brokers: mock.brokers, logLevel: logLevel.NOTHING });
const producer = kafka.producer();
await producer.connect();
const value = Buffer.alloc(100, 7);
const fill = async (): Promise<void> => {
  for (let i = 0; i < N; i += 1024) await producer.send({ topic: 'bench', messages: Array.from({ length: 1024 }, (_, k) => ({ key: String(i + k), value })) });
};

let groups = 0;
/** One subscription in `mode`: PASSES passes of N records behind a step of `stepMs`; ms per pass. */
async function passes(mode: 'main' | 'worker', stepMs: number): Promise<number[]> {
  let read = 0;
  let gate: Promise<void> | undefined;
  let open = (): void => undefined;
  const close = (): void => {
    gate = new Promise<void>((resolve) => {
      open = () => {
        gate = undefined;
        resolve();
      };
    });
  };
  let target = Infinity;
  let reached = (): void => undefined;
  const source = fromKafka({ brokers: mock.brokers, topics: 'bench', groupId: `g${++groups}-${process.pid}`, start: 'latest', commit: 'none', highWaterMark: 2048, logLevel: 'nothing', consumerThread: mode });
  close();
  const subscription = source
    .pipe(
      map((r) => r.value),
      batch(BATCH),
      consume((b: NDArray) => {
        read += b.shape[0];
        if (stepMs > 0 && !gate) busyWait(stepMs);
        if (read >= target) {
          target = Infinity;
          reached();
        }
        return gate;
      }),
    )
    .subscribe();
  // The group join (about 3 s on the mock).
  await new Promise((resolve) => setTimeout(resolve, 4000));
  const times: number[] = [];
  for (let pass = 0; pass < PASSES; pass++) {
    await fill();
    // The consumer fills its buffer (and the thread its credit), then waits on the held pipeline.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const done = new Promise<void>((resolve) => (reached = resolve));
    target = (pass + 1) * N;
    const startedAt = performance.now();
    open();
    await done;
    close();
    times.push(performance.now() - startedAt);
  }
  open();
  subscription.unsubscribe();
  await source.commit();
  // The first pass warms the thread's code (a fresh thread per subscription).
  return times.slice(1);
}

console.log(`${N.toLocaleString()} records of 100 bytes per pass, 4 partitions, batch(${BATCH}); ms per pass (medians of ${rounds * (PASSES - 1)}):`);
for (const stepMs of STEPS_MS) {
  const by: Record<'main' | 'worker', number[]> = { main: [], worker: [] };
  for (let r = 0; r < rounds; r++) {
    for (const mode of r % 2 === 0 ? (['main', 'worker'] as const) : (['worker', 'main'] as const)) by[mode].push(...(await passes(mode, stepMs)));
  }
  const steps = (N / BATCH) * stepMs;
  const line = (mode: 'main' | 'worker'): string => `${median(by[mode]).toFixed(0)} ms${steps > 0 ? ` (steps alone ${steps} ms: ${((100 * steps) / median(by[mode])).toFixed(0)} %)` : ''}`;
  console.log(`step ${stepMs} ms: main thread ${line('main')}, consumer thread ${line('worker')}; thread ÷ main ${(median(by.main) / median(by.worker)).toFixed(2)}× speed`);
}
await producer.disconnect();
mock.stop();
process.exit(0);
