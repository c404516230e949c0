import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromIterable } from '../src/fromIterable.js';
import { selectBackend } from '../src/train/backend.js';
import { fileSystemHandler, loadModel, resolveCheckpoint, restoreCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { RxDataError } from '../src/errors.js';
import { trainOn } from '../src/train/trainOn.js';
import { lastValueFrom, toArray } from 'rxjs';
import { fit, type FitEvent } from '../src/train/fit.js';
import type { NDArray } from '../src/types.js';

let root: string;
test.before(async () => {
  await selectBackend('cpu', { log: false });
  root = mkdtempSync(join(tmpdir(), 'rxdata-ckpt-'));
});
test.after.always(() => rmSync(root, { recursive: true, force: true }));

type Batch = { xs: NDArray<Float32Array>; ys: NDArray<Float32Array> };
function makeBatches(count: number): Batch[] {
  let s = 5;
  const rand = (): number => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return Array.from({ length: count }, () => {
    const xs = Float32Array.from({ length: 32 }, rand);
    const ys = Float32Array.from({ length: 16 }, (_, i) => 2 * xs[2 * i] - xs[2 * i + 1]);
    return { xs: { data: xs, shape: [16, 2] }, ys: { data: ys, shape: [16, 1] } };
  });
}

function model(seed: number): tf.LayersModel {
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 4, inputShape: [2], activation: 'tanh', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return m;
}

const weightsOf = (m: tf.LayersModel): number[][] => m.getWeights().map((w) => Array.from(w.dataSync()));

test.serial('fileSystemHandler round-trips a model without tfjs-node; loading leaks nothing', async (t) => {
  const a = model(1);
  const dir = join(root, 'plain');
  const result = await a.save(fileSystemHandler(dir));
  t.true((result.modelArtifactsInfo.weightDataBytes ?? 0) > 0);
  t.true(existsSync(join(dir, 'model.json')) && existsSync(join(dir, 'weights.bin')));
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  t.deepEqual(json.weightsManifest[0].paths, ['./weights.bin']);
  const b = await loadModel(dir);
  t.deepEqual(weightsOf(b), weightsOf(a));
  b.dispose();
  const before = tf.memory().numTensors;
  const c = model(9);
  await restoreCheckpoint(c, dir);
  t.deepEqual(weightsOf(c), weightsOf(a));
  c.dispose();
  t.is(tf.memory().numTensors, before);
  a.dispose();
});

test.serial('a checkpoint of another architecture is refused', async (t) => {
  const dir = join(root, 'other');
  const small = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
  await small.save(fileSystemHandler(dir));
  const m = model(1);
  await t.throwsAsync(restoreCheckpoint(m, dir), { message: /architecture/ });
  small.dispose();
  m.dispose();
});

test.serial('fit saves checkpoints every epoch, keeps the newest, and resumes weights and counters', async (t) => {
  const dir = join(root, 'run');
  const first = model(1);
  const events: FitEvent[] = [];
  const run = fit(first, fromIterable(makeBatches(6)), { epochs: 2, checkpoint: { dir, everyEpochs: 1, keep: 2 }, progress: 'silent' });
  run.events$.subscribe((e) => events.push(e));
  await run.history;
  const saved = events.filter((e) => e.type === 'checkpoint');
  t.is(saved.length, 2);
  t.deepEqual(readdirSync(dir).filter((n) => n.startsWith('ckpt-')).sort(), ['ckpt-00000006', 'ckpt-00000012']);
  t.is(JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')).name, 'ckpt-00000012');
  const trained = weightsOf(first);

  // A fresh model with other weights resumes from the latest checkpoint: epoch 3 of 3, steps from 13.
  const second = model(7);
  t.notDeepEqual(weightsOf(second), trained);
  const state = await restoreCheckpoint(second, dir);
  t.is(state.nextEpoch, 2);
  t.is(state.step, 12);
  t.deepEqual(weightsOf(second), trained);

  const third = model(7);
  const history = await fit(third, fromIterable(makeBatches(6)), { epochs: 3, resumeFrom: dir, checkpoint: { dir, keep: 2 }, progress: 'silent' }).history;
  t.is(history.initialEpoch, 2);
  t.is(history.epochs.length, 1);
  t.is(history.epochs[0].epoch, 2);
  t.is(history.steps[0].step, 13);
  t.deepEqual(readdirSync(dir).filter((n) => n.startsWith('ckpt-')).sort(), ['ckpt-00000012', 'ckpt-00000018']);
  first.dispose();
  second.dispose();
  third.dispose();
});

test.serial('everySteps saves mid-epoch; resuming reruns that epoch with the step counter kept', async (t) => {
  const dir = join(root, 'steps');
  const m = model(3);
  await fit(m, fromIterable(makeBatches(5)), { epochs: 1, checkpoint: { dir, everySteps: 4 }, progress: 'silent' }).history;
  t.deepEqual(readdirSync(dir).filter((n) => n.startsWith('ckpt-')), ['ckpt-00000004']);
  const again = model(3);
  const state = await restoreCheckpoint(again, dir);
  t.deepEqual([state.nextEpoch, state.step], [0, 4]);
  m.dispose();
  again.dispose();
});

test.serial('saveCheckpoint writes state beside the model and prunes to `keep`', async (t) => {
  const dir = join(root, 'direct');
  const m = model(4);
  await saveCheckpoint(m, dir, { nextEpoch: 1, step: 10 }, 1);
  const path = await saveCheckpoint(m, dir, { nextEpoch: 2, step: 20 }, 1);
  t.deepEqual(readdirSync(dir).filter((n) => n.startsWith('ckpt-')), ['ckpt-00000020']);
  const state = JSON.parse(readFileSync(join(path, 'state.json'), 'utf8')) as { nextEpoch: number; step: number; savedAt: string };
  t.deepEqual([state.nextEpoch, state.step], [2, 20]);
  t.false(Number.isNaN(Date.parse(state.savedAt)));
  await t.throwsAsync(restoreCheckpoint(m, join(root, 'nowhere')), { message: /no checkpoint at/ });
  m.dispose();
});

test.serial("the optimizer's state (Adam's moments) is saved and restored", async (t) => {
  const dir = join(root, 'adam');
  const make = (seed: number): tf.LayersModel => {
    const m = model(seed);
    m.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    return m;
  };
  const a = make(1);
  await fit(a, fromIterable(makeBatches(4)), { epochs: 1, checkpoint: { dir }, progress: 'silent' }).history;
  const slotsOf = async (m: tf.LayersModel): Promise<number[][]> => {
    const slots = await m.optimizer.getWeights();
    const values = slots.map((w) => Array.from(w.tensor.dataSync()));
    slots[0].tensor.dispose(); // the step count is a fresh scalar; the rest are the optimizer's own
    return values;
  };
  const expected = await slotsOf(a);
  t.true(expected.length > 1, 'adam has slots');
  const b = make(2);
  const before = tf.memory().numTensors;
  await restoreCheckpoint(b, dir);
  // The new slots are b's own (as many as a holds); nothing else stays behind.
  t.is(tf.memory().numTensors, before + expected.length - 1);
  t.deepEqual(await slotsOf(b), expected);
  t.deepEqual(weightsOf(b), weightsOf(a));
  a.dispose();
  b.dispose();
});

/**
 * Makes `fs.promises.writeFile` fail with ENOSPC for paths `fails` picks, for the duration of
 * `body` (syncBuiltinESMExports carries the swap to every `import { writeFile }`).
 */
async function withFullDisk<T>(fails: (path: string) => boolean, body: () => Promise<T>): Promise<T> {
  const real = fsp.writeFile;
  fsp.writeFile = ((path: Parameters<typeof real>[0], ...rest: unknown[]) => {
    if (fails(String(path))) {
      const error = Object.assign(new Error(`ENOSPC: no space left on device, open '${String(path)}'`), { code: 'ENOSPC', path: String(path) });
      return Promise.reject(error);
    }
    return (real as (...a: unknown[]) => Promise<void>)(path, ...rest);
  }) as typeof real;
  syncBuiltinESMExports();
  try {
    return await body();
  } finally {
    fsp.writeFile = real;
    syncBuiltinESMExports();
  }
}

test.serial('a save that hits a full disk fails loudly, naming the checkpoint; it is not retried without the Adam moments', async (t) => {
  const dir = join(root, 'full-disk');
  const m = model(21);
  m.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
  await lastValueFrom(fromIterable(makeBatches(2)).pipe(trainOn(m), toArray()));
  await saveCheckpoint(m, dir, { nextEpoch: 1, step: 2 });
  // The first weights write fails (the disk is full), later ones would succeed.
  let failed = 0;
  const error = await withFullDisk(
    (path) => path.endsWith('weights.bin.tmp') && failed++ === 0,
    () => t.throwsAsync(saveCheckpoint(m, dir, { nextEpoch: 2, step: 4 }), { instanceOf: RxDataError }),
  );
  t.regex(error?.message ?? '', /ENOSPC/);
  t.true(error?.origin?.endsWith('ckpt-00000004'), `names the checkpoint: ${error?.origin}`);
  t.false(existsSync(join(dir, 'ckpt-00000004')), 'no checkpoint that looks complete');
  t.deepEqual(
    readdirSync(dir).filter((n) => n.includes('tmp')),
    [],
    'no temporary files left',
  );
  t.is((JSON.parse(readFileSync(join(dir, 'latest.json'), 'utf8')) as { name: string }).name, 'ckpt-00000002', 'the previous checkpoint stays the latest');
  m.dispose();
});

test.serial('fit surfaces a checkpoint write failure as its error', async (t) => {
  const dir = join(root, 'fit-full');
  const m = model(22);
  const run = fit(m, fromIterable(makeBatches(3)), { epochs: 2, progress: false, checkpoint: { dir } });
  const error = await withFullDisk(
    (path) => path.includes('fit-full') && path.endsWith('model.json.tmp'),
    () => t.throwsAsync(run.history),
  );
  t.regex(error?.message ?? '', /checkpoint not saved: ENOSPC.*ckpt-00000003/);
  t.false(existsSync(join(dir, 'ckpt-00000003')));
  t.false(existsSync(join(dir, 'latest.json')));
  m.dispose();
});

test.serial('every saved checkpoint holds the optimizer state and says so', async (t) => {
  const dir = join(root, 'with-optimizer');
  const m = model(23);
  m.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
  await lastValueFrom(fromIterable(makeBatches(2)).pipe(trainOn(m), toArray()));
  const path = await saveCheckpoint(m, dir, { nextEpoch: 1, step: 2 });
  const json = JSON.parse(readFileSync(join(path, 'model.json'), 'utf8')) as { weightsManifest: { weights: { group?: string }[] }[] };
  t.true(json.weightsManifest[0].weights.some((w) => w.group === 'optimizer'));
  t.is((JSON.parse(readFileSync(join(path, 'state.json'), 'utf8')) as { optimizer: boolean }).optimizer, true);
  m.dispose();
});

test.serial("a latest.json naming a folder outside its root is refused", async (t) => {
  const a = model(24);
  const outside = join(root, 'elsewhere');
  await saveCheckpoint(a, outside, { nextEpoch: 9, step: 99 });
  const victim = join(root, 'tampered');
  mkdirSync(victim, { recursive: true });
  for (const name of ['../elsewhere/ckpt-00000099', join(outside, 'ckpt-00000099'), '..', 'a/../../elsewhere/ckpt-00000099']) {
    writeFileSync(join(victim, 'latest.json'), JSON.stringify({ name }));
    const b = model(25);
    const error = await t.throwsAsync(restoreCheckpoint(b, victim), { instanceOf: RxDataError }, name);
    t.regex(error?.message ?? '', /latest\.json/);
    t.regex(error?.origin ?? '', /tampered/);
    b.dispose();
  }
  writeFileSync(join(victim, 'latest.json'), '{"name": 7}');
  await t.throwsAsync(resolveCheckpoint(victim), { instanceOf: RxDataError });
  a.dispose();
});
