/**
 * A bounded replay of `fit`'s events, so a subscriber that comes late still sees what happened:
 * every run-level event, and the newest step events.
 */
import { Observable, Subject } from 'rxjs';
import type { FitEvent } from './fitTypes.js';

/** How much of a run `events$` replays to a late subscriber. */
export interface ReplayOptions {
  /** Step events kept for replay: the newest this many. Default {@link DEFAULT_REPLAY_STEPS}. */
  steps?: number;
  /** Other events (`epochBegin`, `epochEnd`, `checkpoint`, `end`) kept: the newest this many. Default {@link DEFAULT_REPLAY_EVENTS}. */
  events?: number;
}

/** Step events replayed by default: enough for a progress display to draw its recent curve. */
export const DEFAULT_REPLAY_STEPS = 100;
/** Run-level events replayed by default: two per epoch, so every epoch of a 5 000-epoch run. */
export const DEFAULT_REPLAY_EVENTS = 10_000;

interface Kept {
  readonly seq: number;
  readonly event: FitEvent;
}

/** Drops the oldest entries of `ring` beyond `max`. */
function trim(ring: Kept[], max: number): void {
  if (ring.length > max) ring.splice(0, ring.length - max);
}

/**
 * Events to live subscribers as they happen; a new subscriber first gets the kept ones, in the
 * order they happened, then the live ones, then the end or the error.
 *
 * ```
 * emitted:   eB0 s1 s2 s3 eE0 eB1 s4 s5 …          (steps: 2)
 * late sub:  eB0 eE0 eB1 s4 s5 │ live: s6 …        (s1–s3 dropped, epoch events kept)
 * ```
 *
 * Holds at most `steps` step events and `events` other events (both ≥ 0); never more.
 *
 * @example
 * ```ts
 * const replay = new EventReplay({ steps: 100 });
 * replay.next({ type: 'epochBegin', epoch: 0 });
 * replay.events$.subscribe(console.log); // gets the epochBegin at once
 * ```
 */
export class EventReplay {
  private readonly live = new Subject<FitEvent>();
  private readonly steps: Kept[] = [];
  private readonly others: Kept[] = [];
  private readonly maxSteps: number;
  private readonly maxOthers: number;
  private seq = 0;

  constructor(options: ReplayOptions = {}) {
    this.maxSteps = bound(options.steps, DEFAULT_REPLAY_STEPS, 'steps');
    this.maxOthers = bound(options.events, DEFAULT_REPLAY_EVENTS, 'events');
  }

  /** The replaying Observable; `onSubscribe` runs after each subscriber got its replay. */
  observable(onSubscribe: () => void = () => undefined): Observable<FitEvent> {
    return new Observable<FitEvent>((subscriber) => {
      for (const kept of this.kept()) {
        if (subscriber.closed) return undefined;
        subscriber.next(kept.event);
      }
      // A Subject already ended hands its end (or error) to a new subscriber at once.
      const subscription = this.live.subscribe(subscriber);
      onSubscribe();
      return subscription;
    });
  }

  next(event: FitEvent): void {
    const ring = event.type === 'step' ? this.steps : this.others;
    ring.push({ seq: this.seq++, event });
    trim(ring, event.type === 'step' ? this.maxSteps : this.maxOthers);
    this.live.next(event);
  }

  error(error: unknown): void {
    this.live.error(error);
  }

  complete(): void {
    this.live.complete();
  }

  /** Both rings merged back into the order the events happened. */
  private kept(): Kept[] {
    const out: Kept[] = [];
    let i = 0;
    let j = 0;
    while (i < this.steps.length || j < this.others.length) {
      const takeStep = j >= this.others.length || (i < this.steps.length && this.steps[i].seq < this.others[j].seq);
      out.push(takeStep ? this.steps[i++] : this.others[j++]);
    }
    return out;
  }
}

function bound(value: number | undefined, fallback: number, name: string): number {
  const n = value ?? fallback;
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`fit: replay.${name} must be an integer >= 0, got ${value}`);
  return n;
}
