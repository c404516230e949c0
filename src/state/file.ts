/**
 * Pipeline states on disk: V8-serialised (typed arrays, nested objects and strings survive as
 * they are), written atomically (a temporary file in the same directory, flushed, then renamed
 * over the old one, and the directory flushed), so a crash while writing leaves the previous
 * state whole.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync, unlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { PipelineCheckpoint } from './resumable.js';

/** The pipeline state as bytes. */
export function encodePipelineState(state: PipelineCheckpoint): Buffer {
  return serialize(state);
}

/** Bytes written by {@link encodePipelineState}, checked to be a pipeline state. `origin` names them in errors. */
export function decodePipelineState(bytes: Uint8Array, origin = 'pipeline state'): PipelineCheckpoint {
  let state: unknown;
  try {
    state = deserialize(bytes);
  } catch (error) {
    throw new Error(`${origin}: not a readable pipeline state (${(error as Error).message})`, { cause: error });
  }
  const s = state as Partial<PipelineCheckpoint> | null;
  if (s?.format !== 'rxdata-pipeline-state' || s.version !== 1) throw new Error(`${origin}: not an rxdata pipeline state (format rxdata-pipeline-state, version 1)`);
  return s as PipelineCheckpoint;
}

/** Writes `bytes` to `path` atomically: whole or not at all, the previous file intact on a crash. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing more to do: the old file is untouched either way.
    }
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, path);
  // The rename itself must reach the disk for the new file to survive a power cut.
  try {
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  }
}

/** Saves a pipeline state to `path` atomically. Returns its size in bytes. */
export function savePipelineState(path: string, state: PipelineCheckpoint): number {
  const bytes = encodePipelineState(state);
  writeFileAtomic(path, bytes);
  return bytes.length;
}

/** Reads a pipeline state saved by {@link savePipelineState}. */
export async function loadPipelineState(path: string): Promise<PipelineCheckpoint> {
  return decodePipelineState(await readFile(path), path);
}
