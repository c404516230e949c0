import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/train/backend.js';

// One process per test file: these change the global tfjs backend, so they run in order.
test.serial('wasm works offline from the package dist directory', async (t) => {
  const lines: string[] = [];
  const info = await selectBackend('wasm', { log: (l) => lines.push(l) });
  t.is(info.name, 'wasm');
  t.is(tf.getBackend(), 'wasm');
  t.deepEqual(Array.from(tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1)).dataSync()), [2, 3]);
  t.regex(lines[0], /tfjs backend wasm/);
});

test.serial('auto picks the best backend present and says what it skipped', async (t) => {
  const info = await selectBackend('auto', { log: false });
  let nodeBinding = false;
  try {
    await import('@tensorflow/tfjs-node' as string);
    nodeBinding = true;
  } catch {
    // Not installed here: auto must fall through to wasm.
  }
  if (nodeBinding) {
    t.is(info.name, 'tensorflow');
  } else {
    t.is(info.name, 'wasm');
    t.deepEqual(
      info.skipped.map((s) => s.candidate),
      ['tfjs-node-gpu', 'tfjs-node'],
    );
    t.true(info.skipped.every((s) => s.reason.length > 0));
  }
});

test.serial('an unavailable named backend fails clearly, and the cpu backend always works', async (t) => {
  const webgpu = await selectBackend('webgpu', { log: false }).catch((e: Error) => e);
  if (webgpu instanceof Error) t.regex(webgpu.message, /^backend 'webgpu' not available: webgpu: /);
  else t.is(webgpu.name, 'webgpu');
  const cpu = await selectBackend('cpu', { log: false });
  t.is(cpu.name, 'cpu');
  await t.throwsAsync(selectBackend('nonsense' as 'cpu', { log: false }), { instanceOf: RangeError });
});
