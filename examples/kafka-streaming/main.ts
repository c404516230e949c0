/**
 * Online training from Kafka: a producer streams the UCI occupancy sensor readings into a topic,
 * and a trainer learns room occupancy from the topic as the readings arrive, committing offsets
 * only after the step that trained on them (at-least-once).
 *
 *   npx tsx examples/kafka-streaming/main.ts                       (starts its own mock cluster:
 *                                                                   needs librdkafka-dev, gcc and pkg-config to build it)
 *   KAFKA_BROKERS=localhost:9092 npx tsx examples/kafka-streaming/main.ts --topic occupancy
 *   npx tsx examples/kafka-streaming/main.ts --rate 4000 --slow-ms 20   (watch the lag grow)
 *
 * producer ──toKafka──▶ topic (3 partitions) ──fromKafka──▶ bufferCount(32) ──▶ trainOn ──▶ acknowledge
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bufferCount, concatMap, delay, from, lastValueFrom, map, of, tap } from 'rxjs';
import { ndarray, PipelineStats, selectBackend, trainOn } from '../../src/index.js';
import { acknowledge, fromKafka, toKafka, type KafkaRecord } from '../../connectors/kafka/index.js';
import { readOccupancy, type Reading } from '../iot-sensors/fleet.js';

const { values } = parseArgs({
  options: {
    topic: { type: 'string', default: 'occupancy' },
    group: { type: 'string', default: 'occupancy-trainer' },
    rate: { type: 'string', default: '2000' },
    rows: { type: 'string', default: '8143' },
    'batch-size': { type: 'string', default: '32' },
    'slow-ms': { type: 'string', default: '0' },
    backend: { type: 'string', default: 'auto' },
  },
});
const rate = Number(values.rate);
const batchSize = Number(values['batch-size']);
const slowMs = Number(values['slow-ms']);

await selectBackend(values.backend as Parameters<typeof selectBackend>[0], { log: (line) => console.error(line) });

// A mock cluster of our own unless one is given.
let brokers = process.env.KAFKA_BROKERS;
let stopCluster: (() => Promise<void>) | undefined;
if (!brokers) {
  const { startCluster, missingForMockBroker, mockBrokerHelp } = await import('../../test/harness/kafka/cluster.js');
  const missing = missingForMockBroker();
  if (missing.length > 0 && !existsSync(fileURLToPath(new URL('../../test/harness/kafka/kafka-mock', import.meta.url)))) {
    console.error(`example:kafka: ${mockBrokerHelp(missing)}`);
    process.exit(1);
  }
  const cluster = await startCluster({ brokers: 1 });
  await cluster.createTopic(values.topic, 3, 1);
  brokers = cluster.bootstrap;
  stopCluster = () => cluster.stop();
  console.log(`mock Kafka cluster at ${brokers}`);
}

type Row = Omit<Reading, 'sensor'>;
const rows = readOccupancy(fileURLToPath(new URL('../data/occupancy/datatraining.csv', import.meta.url))).slice(0, Number(values.rows));

// Producer: the readings at `rate` per second, keyed by row, spread over the partitions.
const produced = lastValueFrom(
  from(rows).pipe(
    bufferCount(Math.max(1, Math.round(rate / 20))),
    concatMap((chunk) => of(chunk).pipe(delay(50))),
    concatMap((chunk) => from(chunk)),
    map((row, i) => ({ key: String(i), value: JSON.stringify(row) })),
    toKafka({ brokers, topic: values.topic, logLevel: 'nothing', lingerMs: 10 }),
  ),
  { defaultValue: undefined },
).then(() => console.log(`producer: sent ${rows.length} readings`));

// Trainer: 5 standardised features → occupancy.
const model = tf.sequential({
  layers: [tf.layers.dense({ inputShape: [5], units: 16, activation: 'relu' }), tf.layers.dense({ units: 1, activation: 'sigmoid' })],
});
model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
const scale = (r: Row): number[] => [(r.temperature - 20.6) / 1, (r.humidity - 25.7) / 5.5, (r.light - 120) / 195, (r.co2 - 607) / 315, (r.humidityRatio - 0.0039) / 0.00085];

const kafka = fromKafka<Row>({
  brokers,
  topics: values.topic,
  groupId: values.group,
  decode: 'json',
  mode: 'streaming',
  idleTimeoutMs: 5000,
  highWaterMark: 512,
  onError: 'skip',
  logLevel: 'nothing',
  name: 'kafka',
});
const stats = new PipelineStats();
/** Batches handed to trainOn, oldest first: each step result acknowledges the oldest. */
const inTraining: KafkaRecord<Row>[][] = [];
const lag = (): number => Object.entries(stats.get('kafka')?.extra ?? {}).reduce((sum, [k, v]) => (k.startsWith('lag:') ? sum + v : sum), 0);

let steps = 0;
await lastValueFrom(
  kafka.pipe(
    bufferCount(batchSize),
    tap((records) => inTraining.push(records)),
    trainOn(model, {
      stats,
      select: (records: KafkaRecord<Row>[]) => ({
        xs: ndarray(Float32Array.from(records.flatMap((r) => scale(r.value))), [records.length, 5]),
        ys: ndarray(Float32Array.from(records.map((r) => r.value.occupancy)), [records.length, 1]),
      }),
      afterStep: async (result) => {
        steps = result.step;
        if (result.step % 25 === 0) {
          const acc = result.metrics.acc ?? result.metrics.accuracy ?? NaN;
          console.log(`step ${result.step}  loss ${result.loss.toFixed(4)}  acc ${acc.toFixed(3)}  lag ${lag()}  commits ${stats.get('kafka')?.extra.commits ?? 0}`);
        }
        if (slowMs > 0) await new Promise((resolve) => setTimeout(resolve, slowMs));
      },
    }),
    acknowledge(() => inTraining.shift()),
  ),
  { defaultValue: undefined },
);
await produced;
console.log(`trainer: ${steps} steps, idle for 5 s: done`);
console.log(stats.format());
await stopCluster?.();
