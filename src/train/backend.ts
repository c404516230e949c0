/**
 * Picking the TensorFlow.js backend: the fastest one present, or the one the user names.
 *
 * tfjs-node(-gpu) and WebGPU are optional peers: they are imported dynamically and never needed to
 * install, build or test rxdata. WASM ships with rxdata and works offline.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { messageOf } from '../errors.js';

/** What a user may ask for. `'tensorflow'` is libtensorflow through tfjs-node-gpu or tfjs-node. */
export type BackendName = 'auto' | 'tensorflow' | 'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'webgpu' | 'cpu';

export interface BackendInfo {
  /** The tfjs backend now in use (`tf.getBackend()`): `tensorflow`, `wasm`, `webgpu` or `cpu`. */
  readonly name: string;
  /** The package that provides it. */
  readonly provider: string;
  /** Candidates tried before it, each with why it was not available. */
  readonly skipped: readonly { readonly candidate: string; readonly reason: string }[];
}

export interface SelectBackendOptions {
  /** Where to say which backend is in use; `false` says nothing. Default `console.error`. */
  log?: ((line: string) => void) | false;
}

/** Imports a module that may not be installed; the specifier is a variable so TypeScript does not resolve it. */
async function importOptional(specifier: string): Promise<unknown> {
  return import(specifier);
}

/** One candidate: resolves to the provider's name once its backend is set, or throws why not. */
type Attempt = () => Promise<string>;

const tryNode = (pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Attempt => async () => {
  // Importing tfjs-node registers the 'tensorflow' backend into the tfjs-core we share.
  await importOptional(pkg);
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but the 'tensorflow' backend failed to initialise`);
  return pkg;
};

/** The process-wide events Emscripten's Node glue listens to. */
const PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Runs `init` and removes the `uncaughtException` / `unhandledRejection` listeners it added.
 *
 * tfjs-backend-wasm's Emscripten glue installs listeners that rethrow (`if (!(ex instanceof
 * ExitStatus)) throw ex`, `throw reason`). A rethrow from inside a listener makes Node print the
 * listener's source line before the error, and under source maps (tsx) that line is the whole
 * minified Emscripten module, ~39 KB, ahead of the user's own message; the exit code also becomes
 * 7 instead of 1. Without them Node's default handling is the same, minus the noise. Listeners
 * anyone else had, or adds outside `init`, stay.
 */
export async function withoutProcessListeners<T>(init: () => Promise<T>): Promise<T> {
  // As a plain EventEmitter: process's typed overloads take one event name literal at a time.
  const emitter: EventEmitter = process;
  const before = PROCESS_EVENTS.map((event) => new Set(emitter.listeners(event)));
  try {
    return await init();
  } finally {
    PROCESS_EVENTS.forEach((event, i) => {
      for (const listener of emitter.listeners(event)) if (!before[i].has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    });
  }
}

const tryWasm: Attempt = async () => {
  // In Node the .wasm binaries must be read from the package's dist directory as a file path.
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  setWasmPaths(`${dist}/`);
  if (!(await withoutProcessListeners(() => tf.setBackend('wasm')))) throw new Error(`wasm binaries in ${dist} failed to initialise`);
  return '@tensorflow/tfjs-backend-wasm';
};

const tryCpu: Attempt = async () => {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
  return '@tensorflow/tfjs-backend-cpu';
};

interface WebGpuModule {
  create(options: string[]): unknown;
  globals: Record<string, unknown>;
}

const tryWebGpu: Attempt = async () => {
  // Dawn in Node: the `webgpu` package provides navigator.gpu, then the tfjs backend registers.
  const dawn = (await importOptional('webgpu')) as WebGpuModule;
  Object.assign(globalThis, dawn.globals);
  const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
  if (nav && !nav.gpu) Object.defineProperty(nav, 'gpu', { value: dawn.create([]), configurable: true });
  else if (!nav) Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawn.create([]) }, configurable: true });
  await importOptional('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('no WebGPU adapter found');
  return '@tensorflow/tfjs-backend-webgpu + webgpu (Dawn)';
};

const candidates: Record<Exclude<BackendName, 'auto' | 'tensorflow'>, Attempt> = {
  'tfjs-node-gpu': tryNode('@tensorflow/tfjs-node-gpu'),
  'tfjs-node': tryNode('@tensorflow/tfjs-node'),
  wasm: tryWasm,
  webgpu: tryWebGpu,
  cpu: tryCpu,
};

/** Why a module could not be used, in one line. */
function reasonOf(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    const name = /Cannot find (?:package|module) '([^']+)'/.exec(messageOf(error))?.[1];
    return `${name && !name.startsWith('/') ? name : 'a package it needs'} is not installed`;
  }
  return messageOf(error).split('\n')[0];
}

/**
 * Sets the TensorFlow.js backend and says which one is in use.
 *
 * ```
 * 'auto':  tfjs-node-gpu ─✗─▶ tfjs-node ─✗─▶ wasm ─✓─▶ { name: 'wasm', skipped: [...] }
 * 'webgpu': webgpu ─✗─▶ throws "backend 'webgpu' not available: not installed"
 * ```
 *
 * `'auto'` (the default) tries libtensorflow with CUDA, then libtensorflow on the CPU, then WASM,
 * then the pure-JS `cpu` backend. A named backend is tried alone and throws when it is not
 * available, with the reason. WebGPU (Dawn through the `webgpu` npm package) is only tried when
 * named. The choice is logged once (see `options.log`).
 *
 * @example
 * ```ts
 * const backend = await selectBackend('auto'); // "rxdata: tfjs backend wasm (@tensorflow/tfjs-backend-wasm)…"
 * ```
 */
export async function selectBackend(name: BackendName = 'auto', options: SelectBackendOptions = {}): Promise<BackendInfo> {
  const log = options.log === undefined ? (line: string) => console.error(line) : options.log;
  const order: (keyof typeof candidates)[] =
    name === 'auto' ? ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'] : name === 'tensorflow' ? ['tfjs-node-gpu', 'tfjs-node'] : [name];
  if (!order.every((c) => c in candidates)) throw new RangeError(`selectBackend: unknown backend '${name}'`);
  const skipped: { candidate: string; reason: string }[] = [];
  for (const candidate of order) {
    try {
      const provider = await candidates[candidate]();
      await tf.ready();
      const info: BackendInfo = { name: tf.getBackend(), provider, skipped };
      if (log) {
        const tried = skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ');
        log(`rxdata: tfjs backend ${info.name} (${provider})${tried ? ` — skipped ${tried}` : ''}`);
      }
      return info;
    } catch (error) {
      skipped.push({ candidate, reason: reasonOf(error) });
    }
  }
  const why = skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ');
  throw new Error(`backend '${name}' not available: ${why}`);
}

