// The README's example, kept here so the typecheck and a run keep it true: npx tsx examples/readme/main.ts
import * as tf from '@tensorflow/tfjs';
import { fromFiles, cache, shuffle, batch, prefetch, fit, selectBackend } from '../../src/index.js';
import { filter, mergeMap } from '../../src/rxjs.js'; // all of RxJS; its buffering operators obey demand

await selectBackend(); // tfjs-node-gpu › tfjs-node › wasm › cpu
const digits = (file: string) =>
  fromFiles(`examples/data/optdigits/${file}`, { format: 'csv', labels: ['Class'] }).pipe(
    filter(({ xs }) => xs.length === 64), // ordinary RxJS operators between ours…
    mergeMap(async ({ xs, ys }) => ({ xs: xs.map((v) => v / 16), ys }), 4), // …and at most 4 rows in here
  );
const model = tf.sequential({ layers: [tf.layers.dense({ inputShape: [64], units: 64, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })] });
model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
const run = fit(model, digits('optdigits.tra.csv').pipe(cache(), shuffle(4096, { seed: 1 }), batch(32), prefetch(2)), {
  epochs: 5,
  validation: digits('optdigits.tes.csv').pipe(batch(512)),
});
const history = await run.history;
console.log(history.epochs.at(-1), '\n' + run.stats.format());
