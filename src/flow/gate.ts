/**
 * Gates: the condition a producer respects before each emission. A gated stage of ours owns a
 * {@link Valve} and closes it while its buffer is full; the producers above it wait.
 *
 * ```
 * stage's buffer:  [ . . . ] → [ x x x ] full → valve.set(false) … drained → valve.set(true)
 * producer above:   emits        waits                               resumes (onOpen listener)
 * ```
 */

/** A condition a producer respects before each emission: open means "the stage below takes more". */
export interface Gate {
  readonly isOpen: boolean;
  /** Calls `listener` each time the gate goes from closed to open. Returns an unregister function. */
  onOpen(listener: () => void): () => void;
}

/** The gate an operator of ours owns and opens or closes as its buffer fills and drains. */
export class Valve implements Gate {
  /** @param name the owning stage's name, for the guard's messages. */
  constructor(readonly name = 'the next rxdata stage') {}

  /** Whether the stage behind this valve takes more right now. */
  private open = true;
  /** Who waits for the next opening (usually one producer). */
  private readonly listeners = new Set<() => void>();
  /** Which waiting producer is offered the next opening first. */
  private turn = 0;

  get isOpen(): boolean {
    return this.open;
  }

  /**
   * Opens or closes the valve; opening calls every waiting listener (a `Demand`'s, which resumes
   * its producer through the trampoline).
   */
  set(open: boolean): void {
    if (open === this.open) return;
    this.open = open;
    if (!open || this.listeners.size === 0) return;
    // One waiting producer is the common case (per element in parallelMap): no copy for it.
    if (this.listeners.size === 1) {
      for (const listener of this.listeners) listener();
      return;
    }
    // Listeners unregister themselves when called: iterate a snapshot. Several producers behind
    // one valve (a merge) take turns being first, since the first one offered usually fills it.
    const waiting = [...this.listeners];
    const first = this.turn++ % waiting.length;
    for (let i = 0; i < waiting.length; i++) waiting[(first + i) % waiting.length]();
  }

  onOpen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
