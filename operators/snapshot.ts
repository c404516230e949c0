import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MonoTypeOperatorFunction } from 'rxjs';
import { WriteError, messageOf } from '../src/errors.js';
import { fromIterable } from '../src/fromIterable.js';
import { scoped, subscribeTied } from '../src/flow.js';
import { RecordFileWriter, readRecordFile } from '../src/recordFile.js';
import { stageFor } from '../src/stats.js';
import { registerStage, withoutRegistry } from '../src/state/registry.js';

/** What `snapshot` saves in a resumable pipeline: which mode the pass was in, and a replay's position. */
type SnapshotState = { readonly mode: 'replay'; readonly emitted: number } | { readonly mode: 'record' };

export interface SnapshotOptions {
  /**
   * Names what the upstream pipeline computes: change it whenever the pipeline's definition or
   * its input data change. JavaScript cannot fingerprint an Observable's definition, so this is
   * the only thing that tells one snapshot from another (include a version, the input paths, the
   * preprocessing parameters: `'digits-v3-normalised-64px'`).
   */
  readonly key: string;
  /** The stage's name in pipeline statistics. */
  readonly name?: string;
}

/** Bump when the on-disk format changes: old snapshots then miss instead of misreading. */
const FORMAT = 'rxdata-snapshot-v1';

/** Removes a partial file, if any; a path that cannot even be looked at (ENOTDIR) has nothing to remove. */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Nothing was written there.
  }
}

/** The file a snapshot with `key` is kept in under `dir`. */
export function snapshotPath(dir: string, key: string): string {
  const hash = createHash('sha256').update(`${FORMAT}\0${key}`).digest('hex').slice(0, 16);
  const readable = key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 48);
  return join(dir, `${readable}-${hash}.snapshot`);
}

/**
 * Writes the pipeline's output to `dir` on the first complete pass, and on later subscriptions
 * (epochs, or later runs of the program) replays it from disk instead of running upstream
 * (tf.data's `snapshot`).
 *
 * ```
 * run 1:  upstream ──▶ a b c | ──▶ a b c |      (recorded to dir/<key>-<hash>.snapshot.partial…)
 *                                               (renamed into place on complete)
 * run 2:  dir/<key>-<hash>.snapshot ──▶ a b c |  (upstream not subscribed)
 * ```
 *
 * A snapshot is committed only when a pass completes: an error or an unsubscribe (a `take`, a
 * crash) leaves nothing behind, and the next run records again. A directory or file that cannot
 * be written (ENOTDIR, ENOSPC) fails that pass with a `WriteError` naming it; the next pass tries
 * to record again. The replay streams from disk and
 * obeys demand. Elements must survive V8's structured serialisation (plain objects, arrays, typed
 * arrays, strings, numbers; no tensors or functions). The `key` is required and is what the
 * snapshot is looked up by: see {@link SnapshotOptions.key}. Delete the file to force a re-run.
 *
 * In a resumable pipeline (docs/resume.md) a replay saves its position (records emitted) and is
 * restored by skipping that many records of the file; a recording pass saves nothing itself (the
 * stages above save theirs) and, restored mid-way, passes through without recording (the next
 * complete pass records). A restore keeps the mode the checkpoint was taken in: a replay restored
 * where the file has gone fails naming it.
 *
 * @example
 * ```ts
 * fromFiles('raw/*.jpg', …).pipe(parallelMap(expensiveDecode), snapshot('.cache/snap', { key: 'decode-v2-224px' }), shuffle(1000), batch(32));
 * ```
 */
export function snapshot<T>(dir: string, options: SnapshotOptions): MonoTypeOperatorFunction<T> {
  if (!options || typeof options.key !== 'string' || options.key === '') throw new TypeError('snapshot: a non-empty key is required (see SnapshotOptions.key)');
  const path = snapshotPath(dir, options.key);
  const name = options.name ?? 'snapshot';
  const key = {};
  /** A pass is recording now: a concurrent subscription just reads upstream. */
  let recording = false;
  return (source) =>
    scoped<T>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, name, 'operator');
      let mode: 'replay' | 'record' = existsSync(path) ? 'replay' : 'record';
      /** Records of the file skipped by a restored replay. */
      let skip = 0;
      // Registered with the role of the mode: a replay owns the position, a recording pass does not.
      const register = (): ReturnType<typeof registerStage> =>
        registerStage({
          kind: 'snapshot',
          name,
          role: mode === 'replay' ? 'source' : 'operator',
          save: (): SnapshotState => (mode === 'replay' ? { mode, emitted: skip + state!.out } : { mode }),
        });
      let state = register();
      const restored = state?.restored as SnapshotState | undefined;
      if (restored && restored.mode !== mode) {
        // The checkpoint's mode decides, so that the stages registered match the saved ones.
        if (restored.mode === 'replay') {
          subscriber.error(new Error(`restore: ${name}: the checkpoint was replaying ${path}, which no longer exists`));
          return;
        }
        mode = 'record';
        state = register();
      }
      if (mode === 'replay') {
        stage.extra.replayed = (stage.extra.replayed ?? 0) + 1;
        skip = restored?.mode === 'replay' ? restored.emitted : 0;
        const records =
          skip === 0
            ? () => readRecordFile<T>(path)
            : async function* (): AsyncGenerator<T> {
                let i = 0;
                for await (const record of readRecordFile<T>(path)) if (i++ >= skip) yield record;
              };
        // The replay's position is this stage's: its reader does not register.
        return withoutRegistry(() => fromIterable(records, { name: `${name}.replay` }).subscribe(state ? state.emitter(subscriber) : subscriber));
      }
      if (state) {
        subscriber = state.emitter(subscriber);
        // A pass restored mid-way would record only its rest: it passes through (the next whole pass records).
        if (restored) return subscribeTied(subscriber, source, { next: (value) => (state!.received(), subscriber.next(value)), error: (error) => subscriber.error(error), complete: () => subscriber.complete() });
      }
      if (recording) return source.subscribe(subscriber);
      const partial = `${path}.partial-${process.pid}-${randomUUID()}`;
      let writer: RecordFileWriter | undefined;
      try {
        try {
          mkdirSync(dir, { recursive: true });
        } catch (error) {
          throw new WriteError(`${name}: cannot create the snapshot directory: ${messageOf(error)}`, dir, { cause: error });
        }
        writer = new RecordFileWriter(partial);
      } catch (error) {
        // Nothing is recording: a later pass tries again (the directory may be fixed by then).
        removeQuietly(partial);
        subscriber.error(error);
        return;
      }
      recording = true;
      const discard = (): void => {
        recording = false;
        if (!writer) return;
        writer.abort();
        writer = undefined;
        removeQuietly(partial);
      };
      const upstream = subscribeTied(subscriber, source, {
        next(value) {
          state?.received();
          stage.in++;
          try {
            writer!.write(value);
          } catch (error) {
            discard();
            subscriber.error(error);
            return;
          }
          stage.out++;
          subscriber.next(value);
        },
        error(error) {
          discard();
          subscriber.error(error);
        },
        complete() {
          try {
            writer!.close();
            writer = undefined;
            try {
              renameSync(partial, path);
            } catch (error) {
              throw new WriteError(`${name}: cannot commit the snapshot: ${messageOf(error)}`, path, { cause: error });
            }
            recording = false;
            stage.extra.recorded = (stage.extra.recorded ?? 0) + 1;
          } catch (error) {
            discard();
            removeQuietly(partial);
            subscriber.error(error);
            return;
          }
          subscriber.complete();
        },
      });
      return () => {
        upstream.unsubscribe();
        if (writer) discard();
      };
    });
}
