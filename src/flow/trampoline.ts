/**
 * The trampoline: runs tasks one after another instead of nested, so that a chain of synchronous
 * hand-offs (a gate opens, a producer emits, a consumer finishes at once, the gate opens again…)
 * never grows the stack. A task scheduled while another runs waits for it to return.
 *
 * ```
 * nested:       open → emit → done → open → emit → done → …   (the stack grows per element)
 * trampolined:  open → [emit → done → queue(open)] → [open → …]  (one frame deep, a loop)
 * ```
 *
 * Why one per process, as RxJS's `queueScheduler` is: its job is to flatten *every* synchronous
 * chain, and chains cross pipelines (a `share`d source feeding two pipelines, a merge of several
 * sources, a sink that subscribes another pipeline from its callback). A trampoline per pipeline
 * would nest whenever one pipeline's task runs another's, which is exactly the stack growth it is
 * there to stop. It holds no state between synchronous calls: the queue is empty whenever no
 * task is running, so nothing can leak from one turn of the event loop into the next, and one
 * failing task does not lose the others' (they run, then the first error is rethrown to whoever
 * started the drain).
 */

/** Tasks scheduled while a drain runs; swapped out for a fresh array on each pass. */
let pending: (() => void)[] = [];
/** A drain is running further up the stack: new tasks only queue. */
let draining = false;

/** Runs `task` now, or after the task that is running returns (see the module comment). */
export function trampoline(task: () => void): void {
  pending.push(task);
  if (draining) return;
  draining = true;
  let firstError: unknown;
  let failed = false;
  try {
    while (pending.length > 0) {
      const tasks = pending;
      pending = [];
      for (const run of tasks) {
        try {
          run();
        } catch (error) {
          // Keep draining: other pipelines' tasks must not be lost to one failure.
          if (!failed) {
            failed = true;
            firstError = error;
          }
        }
      }
    }
  } finally {
    draining = false;
  }
  if (failed) throw firstError;
}
