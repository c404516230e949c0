/**
 * A re-entrancy-proof loop for stages that pull from several inputs (`interleave`, `flatMap`,
 * `zipDatasets`, `chooseFromDatasets`): a value arriving synchronously while the loop runs asks
 * for another round instead of nesting a second loop inside the first.
 *
 * ```
 * ask() → [step → (ask() again: again = true) → step] → done
 * ```
 */

/**
 * A loop that runs `step` until it must wait, re-entrancy-proof: a callback that asks for another
 * run while the loop is running (an inner value arriving synchronously) only makes it go round
 * again, instead of nesting. Stops once `closed()` says so. Returns the function that asks.
 */
export function pumpLoop(step: () => void, closed: () => boolean): () => void {
  /** The loop is running. */
  let pumping = false;
  /** Someone asked while it ran: go round once more. */
  let again = false;
  return () => {
    if (pumping) {
      again = true;
      return;
    }
    pumping = true;
    try {
      do {
        again = false;
        step();
      } while (again && !closed());
    } finally {
      pumping = false;
    }
  };
}
