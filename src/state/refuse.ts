/**
 * Stages of ours whose state cannot be saved (live sockets, worker threads, operators that hand
 * Observables downstream or follow the clock) still register in a resumable pipeline, so that
 * `checkpoint()` fails with a {@link CheckpointError} naming them and saying why, instead of
 * saving a position that would resume wrongly.
 *
 * ```
 * resumable ─▶ batch ─▶ fromTcp('tcp 127.0.0.1:9000')   checkpoint() → CheckpointError:
 *                         refuse: "live data …"          'fromTcp' cannot save its state: live data from tcp 127.0.0.1:9000 …
 * ```
 */
import { CheckpointError, registerStage, type StageHandle } from './registry.js';

/**
 * Registers a stage that cannot save its state, with the reason a checkpoint gives. `role`:
 * `'source'` for a source (it owns the position of what is above it, which is nothing).
 * Call from the stage's subscribe function. Returns the handle (undefined outside a resumable pipeline).
 */
export function refuseCheckpoint(kind: string, name: string, reason: string, role: 'source' | 'operator' = 'operator'): StageHandle | undefined {
  return registerStage({
    kind,
    name,
    role,
    refuse: () => reason,
    save: () => {
      throw new CheckpointError(`'${name}' cannot save its state: ${reason}`);
    },
  });
}

/** The reason a live network source gives: named by its socket. */
export function liveData(origin: string): string {
  return `it reads live data from ${origin}, which cannot be rewound to a position (put the stream through a log that can, such as Kafka, or keep it out of the checkpointed pipeline)`;
}
