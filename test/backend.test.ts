import test from 'ava';
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '../src/train/backend.js';

const listenerCounts = (): number[] => [process.listeners('uncaughtException').length, process.listeners('unhandledRejection').length];

// One process per test file: these change the global tfjs backend, so they run in order.
test.serial('wasm works offline from the package dist directory, and leaves no process-wide listeners behind', async (t) => {
  const lines: string[] = [];
  const listeners = listenerCounts();
  const info = await selectBackend('wasm', { log: (l) => lines.push(l) });
  t.deepEqual(listenerCounts(), listeners, "Emscripten's uncaughtException/unhandledRejection listeners were removed");
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

test('after selecting wasm, a later error under tsx prints the user\'s message near the top, not the Emscripten source', (t) => {
  const fixture = fileURLToPath(new URL('fixtures/backend/wasm-throws.ts', import.meta.url));
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--enable-source-maps', fixture], { encoding: 'utf8', timeout: 60_000 });
  t.is(child.status, 1, `exit code 1 (an uncaught error), not 7 (a throwing listener): ${child.stderr.slice(0, 300)}`);
  const at = child.stderr.indexOf('Error: my bug');
  t.true(at >= 0 && at < 500, `'Error: my bug' in the first lines (at ${at})`);
  t.true(child.stderr.length < 2048, `stderr is short: ${child.stderr.length} bytes`);
  t.false(child.stderr.includes('WasmBackendModule'));
});
