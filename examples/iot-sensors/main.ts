/**
 * Live training from a sensor fleet: readings arrive over MQTT and TCP, are windowed per sensor
 * into sequences, and a small model (a dense network over the window, or a 1-D convolution) learns room occupancy
 * online.
 *
 *   npx tsx examples/iot-sensors/main.ts --seconds 20 --rate 50 --window 16
 *   npx tsx examples/iot-sensors/main.ts --model conv --backend cpu
 *   npx tsx examples/iot-sensors/main.ts --rate 500 --slow-ms 50     (watch the backpressure)
 */
import * as tf from '@tensorflow/tfjs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lastValueFrom, map, merge, takeUntil, tap, timer } from 'rxjs';
import { batch, PipelineStats, selectBackend, trainOn } from '../../src/index.js';
import { fromMqtt, fromTcp, slidingWindow } from '../../connectors/sockets/index.js';
import { readOccupancy, startFleet, type Reading } from './fleet.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '50' },
    window: { type: 'string', default: '16' },
    'batch-size': { type: 'string', default: '32' },
    'mqtt-sensors': { type: 'string', default: '3' },
    'tcp-sensors': { type: 'string', default: '1' },
    backend: { type: 'string', default: 'auto' },
    model: { type: 'string', default: 'dense' },
    'slow-ms': { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log('usage: npx tsx examples/iot-sensors/main.ts [--seconds 20] [--rate 50] [--window 16] [--batch-size 32] [--mqtt-sensors 3] [--tcp-sensors 1] [--backend auto|wasm|cpu] [--model dense|conv (conv: --backend cpu)] [--slow-ms N: a slower trainer, to watch backpressure reach the sensors]');
  process.exit(0);
}
const num = (name: string, text: string, min: number): number => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) {
    console.error(`--${name} must be a number >= ${min}, got '${text}'`);
    process.exit(2);
  }
  return n;
};
const seconds = num('seconds', values.seconds, 1);
const rate = num('rate', values.rate, 1);
const windowSize = num('window', values.window, 2);
const batchSize = num('batch-size', values['batch-size'], 1);
const slowMs = num('slow-ms', values['slow-ms'], 0);
if (values.model !== 'dense' && values.model !== 'conv') {
  console.error(`--model must be dense or conv, got '${values.model}'`);
  process.exit(2);
}

/** Features scaled to roughly unit range with fixed constants (a live stream has no epoch to fit a scaler on). */
const features = (r: Reading): number[] => [
  (r.temperature - 21) / 2,
  (r.humidity - 27) / 6,
  r.light / 500,
  (r.co2 - 700) / 300,
  (r.humidityRatio - 0.0042) / 0.001,
];

await selectBackend(values.backend as Parameters<typeof selectBackend>[0], { log: (line) => console.error(line) });
const dataPath = fileURLToPath(new URL('../data/occupancy/datatraining.csv', import.meta.url));
const fleet = await startFleet({
  rows: readOccupancy(dataPath),
  mqttSensors: num('mqtt-sensors', values['mqtt-sensors'], 0),
  tcpSensors: num('tcp-sensors', values['tcp-sensors'], 0),
  rate,
});
console.error(`fleet: MQTT broker ${fleet.mqttUrl}, TCP gateway 127.0.0.1:${fleet.tcpPort}; ${rate} readings/s per sensor for ${seconds} s`);

// The wasm backend has no Conv2DBackpropFilter kernel, so the 1-D convolution trains on cpu
// (or tfjs-node) only; the dense network over the flattened window trains anywhere.
const model = tf.sequential({
  layers:
    values.model === 'conv'
      ? [
          tf.layers.conv1d({ inputShape: [windowSize, 5], filters: 8, kernelSize: 3, activation: 'relu' }),
          tf.layers.globalAveragePooling1d(),
          tf.layers.dense({ units: 1, activation: 'sigmoid' }),
        ]
      : [
          tf.layers.flatten({ inputShape: [windowSize, 5] }),
          tf.layers.dense({ units: 16, activation: 'relu' }),
          tf.layers.dense({ units: 1, activation: 'sigmoid' }),
        ],
});
model.compile({ optimizer: tf.train.adam(0.01), loss: 'binaryCrossentropy', metrics: ['accuracy'] });

const stats = new PipelineStats();
const readings$ = merge(
  fromMqtt<Omit<Reading, 'sensor'>>({ url: fleet.mqttUrl, topics: 'sensors/+', qos: 1, clientId: 'trainer', clean: false }).pipe(
    map(({ topic, value }): Reading => ({ ...value, sensor: topic })),
  ),
  fromTcp<Reading>({ port: fleet.tcpPort }),
);

const started = performance.now();
let lossAvg = NaN;
let accAvg = NaN;
let lastPrint = 0;
const ema = (avg: number, x: number): number => (Number.isNaN(avg) ? x : 0.9 * avg + 0.1 * x);
await lastValueFrom(
  readings$.pipe(
    slidingWindow(windowSize, { key: (r) => r.sensor, features, stride: 2 }),
    // Label: is the room occupied at the window's newest reading?
    map((w) => ({ xs: w, ys: [w.last.occupancy] })),
    batch(batchSize),
    // --slow-ms stretches every step: the pipeline fills, the TCP gateway's writes back up (sensor
    // stalls) and the MQTT acknowledgement is held (ackHeld), while memory stays bounded.
    trainOn(model, { stats, afterStep: slowMs > 0 ? () => new Promise((resolve) => setTimeout(resolve, slowMs)) : undefined }),
    tap((step) => {
      lossAvg = ema(lossAvg, step.loss);
      accAvg = ema(accAvg, step.metrics.acc ?? step.metrics.accuracy ?? NaN);
      const now = performance.now();
      if (now - lastPrint < 1000) return;
      lastPrint = now;
      const elapsed = (now - started) / 1000;
      console.log(
        `${elapsed.toFixed(1).padStart(5)} s  step ${String(step.step).padStart(4)}  loss ${lossAvg.toFixed(4)}  acc ${accAvg.toFixed(3)}  ` +
          `readings sent ${fleet.counters.sent}  sensor stalls ${fleet.counters.stalled}  input wait ${(step.inputWait * 100).toFixed(0)} %`,
      );
    }),
    takeUntil(timer(seconds * 1000)),
  ),
  { defaultValue: undefined },
);
console.log('\npipeline statistics:\n' + stats.format());
await fleet.close();
model.dispose();
