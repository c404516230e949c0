import type { GroupedObservable, ObservableInput, OperatorFunction, Subscription } from 'rxjs';
import { Channel } from '../src/channel.js';
import { MAX_OVERSHOOT, Outbox, Valve, overshootError, scoped, subscribeBehind } from '../src/flow.js';
import { LimitError } from '../src/errors.js';
import { innerFrom } from '../src/innerFrom.js';
import { refuseCheckpoint } from '../src/state/refuse.js';
import { stageFor } from '../src/stats.js';

export interface GroupByOptions<T, K, E> {
  /** Maps each value before it enters its group. */
  element?: (value: T) => E;
  /** Ends a group when the returned source emits or completes (a new group starts for its next value). */
  duration?: (group: GroupedObservable<K, E>) => ObservableInput<unknown>;
  /** Groups open at once (keys come from data): past it the stream fails with a `LimitError`. Default 10,000. */
  maxGroups?: number;
}

/** A group: a {@link Channel} with its key. */
class Group<K, E> extends Channel<E> implements GroupedObservable<K, E> {
  constructor(
    readonly key: K,
    onDrain: () => void,
  ) {
    super(onDrain);
  }
}

/**
 * RxJS's `groupBy`, obeying demand: one inner Observable per key (per-sensor pipelines), each
 * value delivered under its group's demand; the source is read only while no group holds a value
 * its subscriber has not taken, and no new group waits for the stage below.
 *
 * ```
 * source:   -a1-b1-a2-b2-…
 * group a:  -a1----a2----      (each group paced by its own pipeline)
 * group b:  ----b1----b2-
 * ```
 *
 * A slow group therefore slows every group (head-of-line blocking, as in Akka Streams' bounded
 * groupBy): a group's subscriber must keep up, or put `lossy(n)` first. The stage below must
 * subscribe to as many groups as there are keys: with the flow-aware `mergeMap`, pass
 * `Infinity` as its concurrency (or at least the number of keys), or the source waits forever.
 * A group handed out and not subscribed drops its values and counts them, as RxJS does.
 * Bound: one value in all (plus what a producer that cannot wait pushes at once, failing past
 * `MAX_OVERSHOOT`); at most `maxGroups` groups open (default 10,000).
 *
 * @example
 * ```ts
 * import { groupBy, mergeMap } from 'rxdata/rxjs';
 * readings$.pipe(groupBy((r) => r.sensor), mergeMap((g) => g.pipe(slidingWindow(32)), Infinity));
 * ```
 */
export function groupBy<T, K, E = T>(keySelector: (value: T) => K, options: GroupByOptions<T, K, E> = {}): OperatorFunction<T, GroupedObservable<K, E>> {
  const key = {};
  const element = options.element ?? ((value: T) => value as unknown as E);
  const maxGroups = options.maxGroups ?? 10_000;
  if (!(maxGroups >= 1)) throw new RangeError(`groupBy: maxGroups must be >= 1, got ${maxGroups}`);
  return (source) =>
    scoped<GroupedObservable<K, E>>((subscriber, scope) => {
      const stage = stageFor(scope.stats, key, 'groupBy', 'operator');
      // In a resumable pipeline a checkpoint fails naming this stage (docs/resume.md).
      refuseCheckpoint('groupBy', stage.name, 'it hands groups (Observables) to the stages below, whose state in each group cannot be saved; use groupByWindow or bucketBySequenceLength');
      /** Open while no group holds a value and no new group waits below. */
      const gate = new Valve(stage.name);
      const groups = new Map<K, Group<K, E>>();
      /** Groups that hold values their subscribers have not taken. */
      const holding = new Set<Group<K, E>>();
      /** Groups handed to the outbox, in order, to mark delivered as the outbox emits them. */
      const handing: Group<K, E>[] = [];
      const durations = new Map<Group<K, E>, Subscription>();
      const update = (): void => {
        for (const group of holding) if (group.held === 0) holding.delete(group);
        gate.set(outbox.size === 0 && holding.size === 0);
        stage.buffered(outbox.size + holding.size);
      };
      const outbox = new Outbox<GroupedObservable<K, E>>(subscriber, scope, () => {
        // The outbox emits in order: the oldest group handed to it has just been delivered.
        handing.shift()?.markDelivered();
        update();
      }, stage);
      const end = (group: Group<K, E>): void => {
        if (groups.get(group.key) === group) groups.delete(group.key);
        durations.get(group)?.unsubscribe();
        durations.delete(group);
        stage.dropped += group.dropped;
        group.complete();
      };
      const open = (k: K): Group<K, E> => {
        const group = new Group<K, E>(k, update);
        groups.set(k, group);
        handing.push(group);
        outbox.push(group);
        if (options.duration) {
          const closing = subscribeBehind(scope, gate, innerFrom(options.duration(group)), {
            next: () => end(group),
            error: (error) => outbox.error(error),
            complete: () => end(group),
          }, subscriber);
          if (groups.get(k) === group) durations.set(group, closing);
        }
        return group;
      };
      const upstream = subscribeBehind(scope, gate, source, {
        next(value) {
          stage.in++;
          let k: K;
          let e: E;
          try {
            k = keySelector(value);
            e = element(value);
          } catch (error) {
            for (const group of groups.values()) group.error(error);
            outbox.error(error);
            return;
          }
          let group = groups.get(k);
          if (!group) {
            if (groups.size >= maxGroups) return outbox.error(new LimitError(`groupBy: more than maxGroups=${maxGroups} groups open at once`));
            group = open(k);
          }
          if (group.held >= MAX_OVERSHOOT) return outbox.error(overshootError(stage.name));
          group.push(e);
          if (group.held > 0) holding.add(group);
          update();
        },
        error(error) {
          for (const group of groups.values()) group.error(error);
          outbox.error(error);
        },
        complete() {
          for (const group of [...groups.values()]) end(group);
          outbox.complete();
        },
      }, subscriber);
      return () => {
        upstream.unsubscribe();
        for (const closing of durations.values()) closing.unsubscribe();
        outbox.dispose();
      };
    });
}
