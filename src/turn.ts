/**
 * Fairness: how long a pipeline may hold the event loop before it lets timers and I/O run.
 *
 * ```
 * event loop:  [timers][I/O][ slice ≤ SLICE_MS ]→setImmediate→[timers][I/O][ slice ]…
 *                            producers emit here; once the slice is spent each one yields
 * ```
 *
 * Every producer of ours (sources, and gated stages emitting from their buffers) asks
 * {@link sliceSpent} before an emission and, when it says so, resumes from `setImmediate`
 * ({@link yieldTurn}, which gives each resumed producer a slice of its own, so two pipelines in
 * one process take turns) instead of emitting. The slice is measured in time, not elements: a chain of
 * microtasks (an async source feeding an async sink, a Promise-returning map) never lets the
 * event loop turn on its own, however the stages are mixed, so the clock has to be shared.
 *
 * The clock is read every few calls only (`performance.now()` costs about 90 ns on this VM):
 * the stride grows while elements are cheap and falls back to every call once they are not,
 * so a turn overshoots the slice by a few elements at most.
 */

/** Longest a pipeline holds the event loop before yielding to it, in milliseconds. */
export const SLICE_MS = 4;

/** Most calls between two clock reads. */
const MAX_STRIDE = 64;

/** A slice is running: set at its first check, cleared by the `setImmediate` marker it queued. */
let sliceOpen = false;
/** When the running slice started. */
let sliceStart = 0;
/** When the clock was last read. */
let lastRead = 0;
/** Calls left before the clock is read again. */
let countdown = 0;
/** Calls between clock reads, adapted to how long the calls between two reads take. */
let stride = 1;

const endSlice = (): void => {
  sliceOpen = false;
  countdown = 0;
};

/**
 * True when the current turn of the event loop has run pipeline work for {@link SLICE_MS} or
 * more: the caller should not emit now but resume from `setImmediate` (see {@link yieldTurn}).
 */
export function sliceSpent(): boolean {
  if (countdown-- > 0) return false;
  const now = performance.now();
  if (!sliceOpen) {
    sliceOpen = true;
    sliceStart = lastRead = now;
    countdown = stride;
    // Runs once the loop reaches its check phase: the next slice starts after timers and I/O.
    setImmediate(endSlice);
    return false;
  }
  if (now - sliceStart >= SLICE_MS) {
    countdown = 0;
    return true;
  }
  // Cheap calls since the last read: read less often; costly ones: read every call.
  stride = now - lastRead < SLICE_MS / 16 ? Math.min(stride * 2, MAX_STRIDE) : 1;
  lastRead = now;
  countdown = stride;
  return false;
}

/**
 * Runs `task` on a later turn of the event loop, with a slice of its own. Returns a function that
 * cancels it.
 *
 * Each yielded producer gets its own `setImmediate` and starts a fresh slice: Node runs the
 * microtasks queued by one immediate before the next, so an async producer's awaits finish inside
 * its own slice. With one slice shared by every producer of the turn, the first of two pipelines
 * in a process took it every turn and the other, finding it spent, waited for ever.
 */
export function yieldTurn(task: () => void): () => void {
  const handle = setImmediate(() => {
    endSlice();
    task();
  });
  return () => clearImmediate(handle);
}

/** A Promise that settles on a later turn of the event loop, for async loops. */
export const nextTurn = (): Promise<void> => new Promise<void>((resolve) => yieldTurn(resolve));
