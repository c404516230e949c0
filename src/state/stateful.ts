/**
 * `stateful(name, setup)`: marks an operator of the user's own as stateful, so that a resumable
 * pipeline saves its state with the checkpoint and hands it back on restore (docs/resume.md). A
 * plain RxJS operator that keeps state across elements cannot be told from `map` by the registry;
 * wrapped in this, it registers like a stage of ours.
 *
 * ```
 * source ─▶ stateful('dedupe', setup) ─▶ …      setup() per subscription: { operator, save, restore }
 *             checkpoint(): save() → plain data;   restore: restore(saved) before the operator starts
 * ```
 */
import { Observable, type OperatorFunction } from 'rxjs';
import { subscribeTied } from '../flow.js';
import { registerStage } from './registry.js';
import { plainDataProblem } from './plainData.js';

/** What `setup` returns for one subscription: the operator, and how its state is saved and restored. */
export interface StatefulParts<T, R, S> {
  /** The operator, closing over this subscription's state. It should hand elements on synchronously and contain no stage of ours. */
  readonly operator: OperatorFunction<T, R>;
  /** The state now, as plain data (numbers, strings, arrays, plain objects, typed arrays); checked when a checkpoint is taken. */
  save(): S;
  /** Puts a saved state back, before the operator sees any element. */
  restore(state: S): void;
  /** Elements the state holds, for the checkpoint's size report. */
  held?(): number;
}

/**
 * Wraps a stateful operator of your own so that a resumable pipeline saves and restores its
 * state. `setup` runs once per subscription and returns the operator with its state in a closure,
 * plus `save` and `restore`. Outside a resumable pipeline the operator runs as it is. A state that
 * is not plain data fails `checkpoint()` with a `CheckpointError` naming `name`.
 *
 * @example
 * ```ts
 * const numbered = stateful('numbered', () => {
 *   let n = 0;
 *   return { operator: map((x: Row) => ({ ...x, n: n++ })), save: () => n, restore: (saved: number) => (n = saved) };
 * });
 * resumable(fromIterable(rows).pipe(numbered, batch(32)));
 * ```
 */
export function stateful<T, R, S>(name: string, setup: () => StatefulParts<T, R, S>): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      const parts = setup();
      const handle = registerStage({
        kind: `stateful:${name}`,
        name,
        role: 'operator',
        // Wrapped, so that a state of `undefined` is restored too.
        save: () => ({ state: parts.save() }),
        held: () => parts.held?.() ?? 0,
        refuse: () => {
          const problem = plainDataProblem(parts.save(), 'its saved state');
          return problem && `${problem}; save plain data`;
        },
      });
      if (!handle) return parts.operator(source).subscribe(subscriber);
      const restored = handle.restored as { state: S } | undefined;
      if (restored) parts.restore(restored.state);
      // What arrives from above is checked to come from the stage above, as for a stage of ours.
      const checked = new Observable<T>((inner) =>
        subscribeTied(inner, source, {
          next(value) {
            handle.received();
            inner.next(value);
          },
          error: (error: unknown) => inner.error(error),
          complete: () => inner.complete(),
        }),
      );
      return parts.operator(checked).subscribe(handle.emitter(subscriber));
    });
}
