import type { Observable, SchedulerLike, Subscriber, Subscription } from 'rxjs';
import type { Demand } from './flow.js';
import { produce, subscribeBehind, type FlowScope, type Gate } from './flow.js';

/**
 * A gate open while every member demand is ready: one source paced by its slowest subscriber.
 * Closed while there are no members, so a shared source with nobody listening is not read.
 */
export class CompositeGate implements Gate {
  /** Each subscriber's demand, by subscriber (plain subscribers share one unbounded demand). */
  private readonly members = new Map<object, Demand>();
  private readonly listeners = new Set<() => void>();
  /** Cancels the waits registered on members that were not ready. */
  private waits: (() => void)[] = [];

  get isOpen(): boolean {
    if (this.members.size === 0) return false;
    for (const member of this.members.values()) if (!member.ready) return false;
    return true;
  }

  onOpen(listener: () => void): () => void {
    this.listeners.add(listener);
    this.arm();
    return () => this.listeners.delete(listener);
  }

  add(owner: object, member: Demand): void {
    this.members.set(owner, member);
    this.recheck();
  }

  delete(owner: object): void {
    this.members.delete(owner);
    this.recheck();
  }

  /** Re-evaluates after a member came, left or became ready: wakes the listeners if open. */
  private readonly recheck = (): void => {
    for (const cancel of this.waits) cancel();
    this.waits = [];
    if (this.listeners.size === 0) return;
    if (this.isOpen) {
      for (const listener of [...this.listeners]) listener();
    } else {
      this.arm();
    }
  };

  private arm(): void {
    if (this.waits.length > 0) return;
    for (const member of this.members.values()) if (!member.ready) this.waits.push(member.whenReady(this.recheck));
  }
}

export interface HubOptions {
  resetOnError: boolean;
  resetOnComplete: boolean;
  resetOnRefCountZero: boolean;
  /** Values kept for late subscribers (`shareReplay`); none when absent. */
  replay?: { bufferSize: number; windowTime: number; scheduler: SchedulerLike };
}

/** One connection to a shared source, and its subscribers. */
interface Connection<T> {
  members: Map<Subscriber<T>, FlowScope>;
  gate: CompositeGate;
  subscription?: Subscription;
  /** The source ended: how, for subscribers that come later without a reset. */
  ended?: { error: unknown } | 'complete';
  replayed: { value: T; at: number }[];
}

/**
 * The engine of the flow-aware `share` and `shareReplay`: one subscription to `source`, paced by
 * the slowest subscriber (the source is read only while every subscriber's stage below takes
 * more), fanned out to every subscriber.
 */
export function hub<T>(name: string, source: Observable<T>, options: HubOptions): (subscriber: Subscriber<T>, scope: FlowScope) => () => void {
  let connection: Connection<T> | undefined;
  const fresh = (): Connection<T> => ({ members: new Map(), gate: new CompositeGate(), replayed: [] });
  const trimReplay = (c: Connection<T>): void => {
    const replay = options.replay;
    if (!replay) return;
    while (c.replayed.length > replay.bufferSize) c.replayed.shift();
    const oldest = replay.scheduler.now() - replay.windowTime;
    while (c.replayed.length > 0 && c.replayed[0].at < oldest) c.replayed.shift();
  };
  const connect = (c: Connection<T>, scope: FlowScope): void => {
    c.subscription = subscribeBehind(scope, c.gate, source, {
      next(value) {
        if (options.replay) {
          c.replayed.push({ value, at: options.replay.scheduler.now() });
          trimReplay(c);
        }
        for (const [member, memberScope] of c.members) produce(memberScope, name, member, value);
      },
      error(error) {
        c.ended = { error };
        const members = [...c.members.keys()];
        c.members.clear();
        if (options.resetOnError && connection === c) connection = undefined;
        for (const member of members) member.error(error);
      },
      complete() {
        c.ended = 'complete';
        const members = [...c.members.keys()];
        c.members.clear();
        if (options.resetOnComplete && connection === c) connection = undefined;
        for (const member of members) member.complete();
      },
    });
  };
  return (subscriber, scope) => {
    const c = (connection ??= fresh());
    if (options.replay) {
      trimReplay(c);
      for (const { value } of [...c.replayed]) subscriber.next(value);
    }
    if (c.ended) {
      if (c.ended === 'complete') subscriber.complete();
      else subscriber.error(c.ended.error);
      return () => undefined;
    }
    c.members.set(subscriber, scope);
    c.gate.add(subscriber, scope.demand);
    if (!c.subscription) connect(c, scope);
    return () => {
      if (!c.members.delete(subscriber)) return;
      c.gate.delete(subscriber);
      if (c.members.size === 0 && options.resetOnRefCountZero && !c.ended) {
        if (connection === c) connection = undefined;
        c.subscription?.unsubscribe();
      }
    };
  };
}

