/**
 * Demand: the set of gates a producer of ours respects, one per gated stage it feeds (usually
 * one: a gated stage's own gate replaces the demand below it, see `subscribe.ts`).
 *
 * ```
 * gates:     A ▔▔▔▁▁▁▔▔▔     B ▔▔▔▔▔▁▁▔
 * ready:       ▔▔▔▁▁▁▔▔▁▁▔   (every gate open)
 * ```
 */
import type { Gate } from './gate.js';
import { trampoline } from './trampoline.js';

/** The set of gates a producer must respect: ready when every gate is open. */
export class Demand {
  /** No gate at all: a plain `subscribe` asks for everything (see the README on `consume`). */
  static readonly unbounded = new Demand([]);

  constructor(readonly gates: readonly Gate[]) {}

  get ready(): boolean {
    for (const gate of this.gates) if (!gate.isOpen) return false;
    return true;
  }

  /**
   * Runs `task` once, through the trampoline, as soon as every gate is open (at once if they
   * already are). Returns a function that cancels the wait.
   */
  whenReady(task: () => void): () => void {
    let cancelled = false;
    const unregister: (() => void)[] = [];
    const cancel = (): void => {
      cancelled = true;
      for (const off of unregister) off();
      unregister.length = 0;
    };
    const check = (): void => {
      if (cancelled || !this.ready) return;
      cancel();
      trampoline(task);
    };
    for (const gate of this.gates) unregister.push(gate.onOpen(check));
    check();
    return cancel;
  }
}
