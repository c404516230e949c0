/**
 * Sharded TFRecords end to end: write the optdigits training set as 4 TFRecord shards of
 * `tf.train.Example`s, read them back interleaved, and train a small tfjs classifier on them.
 *
 *   optdigits.tra.csv ─fromFiles(csv, labels)─▶ serializeExample ─▶ writeTFRecord(shards: 4)
 *   train.tfrecord-0000{0..3}-of-00004 ─fromFiles(tfrecord, cycleLength 4, example spec)─▶
 *     normalise ─▶ shuffle ─▶ batch(32) ─▶ prefetch ─▶ fit
 *
 *   npx tsx examples/sharded-files/main.ts [--out DIR] [--epochs N]
 */
import * as tf from '@tensorflow/tfjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { lastValueFrom, map } from 'rxjs';
import { PipelineStats, batch, evaluateBatches, fit, fromFiles, prefetch, selectBackend, shuffle, writeTFRecord } from '../../src/index.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(tmpdir(), 'rxdata-sharded-files') },
    epochs: { type: 'string', default: '10' },
  },
});
const DATA = join(fileURLToPath(new URL('.', import.meta.url)), '../data/optdigits');
const out = values.out;
const epochs = Number(values.epochs);

/** The optdigits CSV (64 pixel columns, then `Class`) as TFRecord files of tf.train.Example. */
async function writeShards(csv: string, path: string, shards: number): Promise<number> {
  const last = await lastValueFrom(
    fromFiles(csv, { format: 'csv', labels: ['Class'] }).pipe(
      map(({ xs, ys }) => ({ pixels: xs, label: { int64: [ys as number] } })),
      writeTFRecord(path, { shards }),
    ),
  );
  return last.records;
}

/** What each record holds: 64 pixel counts (0..16) and the class. */
const spec = { pixels: { type: 'float', shape: [64] }, label: { type: 'int64', shape: [] } } as const;

/** Interleaved, decoded, normalised examples from TFRecord files. */
const examples = (pattern: string, cycleLength: number) =>
  fromFiles(pattern, { format: 'tfrecord', example: spec, cycleLength, blockLength: 8 }).pipe(
    map(({ pixels, label }) => ({ xs: pixels.map((v) => v / 16), ys: label })),
  );

const started = performance.now();
const written = await writeShards(join(DATA, 'optdigits.tra.csv'), join(out, 'train.tfrecord'), 4);
const testWritten = await writeShards(join(DATA, 'optdigits.tes.csv'), join(out, 'test.tfrecord'), 1);
console.log(`wrote ${written} training records as 4 shards and ${testWritten} test records under ${out} (${(performance.now() - started).toFixed(0)} ms)`);

const backend = await selectBackend('auto', { log: false });
const model = tf.sequential({
  layers: [
    tf.layers.dense({ units: 64, activation: 'relu', inputShape: [64], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
    tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
  ],
});
model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });

const train$ = examples(join(out, 'train.tfrecord-*-of-00004'), 4).pipe(shuffle(1024, { seed: 7 }), batch(32), prefetch(2));
const test$ = examples(join(out, 'test.tfrecord'), 1).pipe(batch(512));
const stats = new PipelineStats();
const history = await fit(model, train$, { epochs, validation: test$, stats, progress: 'silent' }).history;
for (const e of history.epochs) {
  const logs = { loss: e.loss, ...e.metrics, ...e.validation };
  console.log(`epoch ${e.epoch + 1}: ${Object.entries(logs).map(([k, v]) => `${k} ${v.toFixed(4)}`).join('  ')}  (input wait ${(e.inputWait * 100).toFixed(1)}%)`);
}
const { acc } = await evaluateBatches(model, test$);
console.log(`test accuracy ${(acc * 100).toFixed(2)}% on backend ${backend.name} (${((performance.now() - started) / 1000).toFixed(1)} s in all)`);
console.log('\npipeline statistics:\n' + stats.format());
model.dispose();
