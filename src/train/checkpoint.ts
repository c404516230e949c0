/**
 * Checkpoints without tfjs-node: a `tf.io.IOHandler` that writes `model.json` + `weights.bin` to a
 * directory with `node:fs`, and save/resume helpers that keep the epoch and step counters beside.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { RxDataError, messageOf } from '../errors.js';

const MODEL_FILE = 'model.json';
const WEIGHTS_FILE = 'weights.bin';
const STATE_FILE = 'state.json';
const LATEST_FILE = 'latest.json';

/** The counters a checkpoint records, so training resumes where it stopped. */
export interface CheckpointState {
  /** The epoch to run next (an epoch cut short by a step checkpoint is run again from its start). */
  readonly nextEpoch: number;
  /** Training steps done. */
  readonly step: number;
  /** When it was written (ISO 8601). */
  readonly savedAt: string;
  /**
   * Whether the optimizer's state (Adam's moments, its step count) was saved with the weights.
   * False only when the model has no optimizer or tfjs cannot serialise its state; never because
   * a write failed (a failed write fails the save). Absent in checkpoints written before.
   */
  readonly optimizer?: boolean;
}

/** One contiguous buffer out of tfjs' weight data (one buffer or several). */
function joinWeights(data: tf.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  return new Uint8Array(tf.io.CompositeArrayBuffer.join(data));
}

/**
 * A `tf.io.IOHandler` reading and writing a model in a directory, like tfjs-node's `file://`.
 *
 * ```
 * model.save(fileSystemHandler('ckpt')) ──▶ ckpt/model.json + ckpt/weights.bin
 * tf.loadLayersModel(fileSystemHandler('ckpt')) ◀── the same files
 * ```
 *
 * Files are written to a temporary name and renamed, so a crash never leaves half a model.
 *
 * @example
 * ```ts
 * await model.save(fileSystemHandler('out/model'));
 * const again = await tf.loadLayersModel(fileSystemHandler('out/model'));
 * ```
 */
export function fileSystemHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      if (artifacts.modelTopology instanceof ArrayBuffer) throw new Error('fileSystemHandler: binary model topologies are not supported');
      await mkdir(dir, { recursive: true });
      const weights = joinWeights(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology ?? {},
        weightsManifest: [{ paths: [`./${WEIGHTS_FILE}`], weights: artifacts.weightSpecs ?? [] }],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        trainingConfig: artifacts.trainingConfig,
        userDefinedMetadata: artifacts.userDefinedMetadata,
      };
      const tmpWeights = join(dir, `.${WEIGHTS_FILE}.tmp`);
      const tmpModel = join(dir, `.${MODEL_FILE}.tmp`);
      await writeFile(tmpWeights, weights);
      await writeFile(tmpModel, JSON.stringify(modelJson));
      await rename(tmpWeights, join(dir, WEIGHTS_FILE));
      await rename(tmpModel, join(dir, MODEL_FILE));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelJson = JSON.parse(await readFile(join(dir, MODEL_FILE), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const parts: Uint8Array[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const path of group.paths) parts.push(await readFile(join(dir, path)));
        }
        const total = parts.reduce((n, p) => n + p.byteLength, 0);
        const out = new Uint8Array(total);
        let offset = 0;
        for (const p of parts) {
          out.set(p, offset);
          offset += p.byteLength;
        }
        return [specs, out.buffer];
      });
    },
  };
}

/** Loads a model saved with {@link fileSystemHandler} (or tfjs-node's `file://`). */
export function loadModel(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(fileSystemHandler(dir));
}

/**
 * Saves `model` and the counters as a new checkpoint under `root`, marks it the latest, and keeps
 * only the newest `keep`.
 *
 * ```
 * root/.ckpt-00000120.<pid>.tmp/{model.json, weights.bin, state.json}   written here first
 *   ──rename──▶ root/ckpt-00000120/                                      complete or absent
 * root/latest.json  → { "name": "ckpt-00000120" }                        replaced by rename last
 * ```
 *
 * A checkpoint folder exists only whole: it is written under a temporary name and renamed into
 * place, and `latest.json` moves only after that. The optimizer's state goes with the weights;
 * a write that fails (a full disk, a read-only folder) rejects with an {@link RxDataError} naming
 * the checkpoint's path and leaves the previous checkpoint the latest. The save is not retried
 * without the optimizer's state: a checkpoint that looks complete without Adam's moments would
 * resume with a jolt. (Only a model with no optimizer, or one tfjs cannot serialise, is saved
 * without, and its `state.json` says `"optimizer": false`.)
 *
 * @example
 * ```ts
 * await saveCheckpoint(model, 'runs/a', { nextEpoch: 3, step: 360 });
 * ```
 */
export async function saveCheckpoint(
  model: tf.LayersModel,
  root: string,
  state: Omit<CheckpointState, 'savedAt' | 'optimizer'>,
  keep = 3,
  /** More files to save in the checkpoint folder (the pipeline's state: `pipeline.bin`), whole or not at all with it. */
  files: Readonly<Record<string, Uint8Array>> = {},
): Promise<string> {
  const name = `ckpt-${String(state.step).padStart(8, '0')}`;
  const dir = join(root, name);
  const tmpDir = join(root, `.${name}.${process.pid}.tmp`);
  try {
    await mkdir(root, { recursive: true });
    await rm(tmpDir, { recursive: true, force: true });
    const optimizer = await saveModel(model, tmpDir);
    const full: CheckpointState = { ...state, savedAt: new Date().toISOString(), optimizer };
    await writeFile(join(tmpDir, STATE_FILE), JSON.stringify(full, null, 2));
    for (const [file, bytes] of Object.entries(files)) await writeFile(join(tmpDir, file), bytes);
    // The same step saved twice (an epoch end that is also an everySteps step): the new one wins.
    await rm(dir, { recursive: true, force: true });
    await rename(tmpDir, dir);
    const tmp = join(root, `.${LATEST_FILE}.${process.pid}.tmp`);
    await writeFile(tmp, JSON.stringify({ name }));
    await rename(tmp, join(root, LATEST_FILE));
  } catch (error) {
    await rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
    throw new RxDataError(`checkpoint not saved: ${messageOf(error)}`, dir, { cause: error });
  }
  const old = (await readdir(root)).filter((n) => /^ckpt-\d+$/.test(n) && n !== name).sort();
  for (const stale of old.slice(0, Math.max(0, old.length - (keep - 1)))) await rm(join(root, stale), { recursive: true, force: true });
  return dir;
}

/**
 * Saves `model` with its optimizer's state into `dir`; returns whether that state was included.
 * Falls back to the weights alone only when tfjs fails before handing us anything to write (no
 * optimizer, or one without serialisable state); an I/O failure is never retried without it.
 */
async function saveModel(model: tf.LayersModel, dir: string): Promise<boolean> {
  if (!model.optimizer) {
    await model.save(fileSystemHandler(dir));
    return false;
  }
  const inner = fileSystemHandler(dir);
  let writing = false;
  const handler: tf.io.IOHandler = {
    save(artifacts) {
      writing = true;
      return inner.save!(artifacts);
    },
  };
  try {
    await model.save(handler, { includeOptimizer: true });
    return true;
  } catch (error) {
    if (writing) throw error;
    await model.save(fileSystemHandler(dir));
    return false;
  }
}

/**
 * The checkpoint directory `path` names: a checkpoint itself, or a root with a `latest.json`.
 * The name in `latest.json` must be a folder directly inside the root: a `latest.json` naming
 * `../elsewhere` or an absolute path is refused, so a copied or tampered root cannot make a
 * resume load weights from outside it.
 */
export async function resolveCheckpoint(path: string): Promise<string> {
  if (existsSync(join(path, MODEL_FILE))) return path;
  const latest = join(path, LATEST_FILE);
  if (existsSync(latest)) {
    let name: unknown;
    try {
      name = (JSON.parse(await readFile(latest, 'utf8')) as { name?: unknown } | null)?.name;
    } catch (error) {
      throw new RxDataError(`unreadable checkpoint pointer: ${messageOf(error)}`, latest, { cause: error });
    }
    if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || /[/\\]/.test(name) || isAbsolute(name)) {
      throw new RxDataError(`latest.json must name a checkpoint folder inside ${path}, got ${JSON.stringify(name)}`, latest);
    }
    const dir = join(path, name);
    const rel = relative(resolve(path), resolve(dir));
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new RxDataError(`latest.json names a folder outside ${path}: ${JSON.stringify(name)}`, latest);
    return dir;
  }
  throw new Error(`no checkpoint at ${path} (neither ${MODEL_FILE} nor ${LATEST_FILE})`);
}

/**
 * Restores the weights of a checkpoint into `model` (same architecture) and returns its counters.
 *
 * ```
 * root/latest.json ─▶ root/ckpt-…/weights.bin ─▶ model.setWeights(…)   returns { nextEpoch, step }
 * ```
 *
 * The optimizer's state (Adam's moments, step count) is restored too when the checkpoint holds it
 * and the optimizer is of the same class. The loaded copy's tensors are freed.
 *
 * @example
 * ```ts
 * const { nextEpoch, step } = await restoreCheckpoint(model, 'runs/a');
 * ```
 */
export async function restoreCheckpoint(model: tf.LayersModel, path: string): Promise<CheckpointState> {
  const dir = await resolveCheckpoint(path);
  const loaded = await tf.loadLayersModel(fileSystemHandler(dir));
  try {
    const weights = loaded.getWeights();
    const mine = model.getWeights();
    if (weights.length !== mine.length || weights.some((w, i) => w.shape.join() !== mine[i].shape.join())) {
      throw new Error(`checkpoint ${dir} does not match the model's architecture`);
    }
    model.setWeights(weights);
    // getWeights returns the optimizer's own variables plus a fresh step-count scalar each call;
    // setWeights makes new variables. Free the replaced variables and the scalars, each once.
    const slots = loaded.optimizer ? await loaded.optimizer.getWeights() : [];
    try {
      if (model.optimizer && slots.length > 1 && model.optimizer.getClassName() === loaded.optimizer.getClassName()) {
        const old = await model.optimizer.getWeights();
        await model.optimizer.setWeights(slots);
        tf.dispose(old.map((w) => w.tensor));
      }
    } finally {
      // tfjs' Variable checks instanceof by shape (Symbol.hasInstance), so another tfjs copy's variables count too.
      tf.dispose(slots.map((w) => w.tensor).filter((t) => !(t instanceof tf.Variable)));
    }
  } finally {
    loaded.dispose();
    loaded.optimizer?.dispose();
  }
  const state = existsSync(join(dir, STATE_FILE))
    ? (JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8')) as CheckpointState)
    : { nextEpoch: 0, step: 0, savedAt: '' };
  return state;
}

/** A file saved beside the model in the checkpoint `path` names (see `saveCheckpoint`'s `files`), or undefined when it has none. */
export async function readCheckpointFile(path: string, file: string): Promise<Uint8Array | undefined> {
  const full = join(await resolveCheckpoint(path), file);
  return existsSync(full) ? readFile(full) : undefined;
}
