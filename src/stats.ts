/**
 * Pipeline statistics: counters every source, operator and sink of ours keeps, readable while a
 * pipeline runs and after it ends.
 *
 * The demand end (`consume`, `trainOn`, `fit`) carries a {@link PipelineStats} in the flow scope,
 * so every stage of ours above it registers itself there when subscribed: no wiring by hand.
 *
 * ```ts
 * const stats = new PipelineStats();
 * await lastValueFrom(source$.pipe(parallelMap(decode), batch(32), consume(step, { stats })));
 * console.log(stats.format());
 * ```
 */

export type StageKind = 'source' | 'operator' | 'sink';

/** A plain copy of one stage's counters. */
export interface StageSnapshot {
  readonly name: string;
  readonly kind: StageKind;
  /** Elements that entered the stage (pulled or received). */
  readonly in: number;
  /** Elements the stage emitted downstream. */
  readonly out: number;
  /** Bad records skipped because the user chose `onError: 'skip'`. */
  readonly skipped: number;
  /** Elements dropped by an overflow policy (sources that cannot pause). */
  readonly dropped: number;
  /** Time the stage spent blocked on the demand below (backpressure), in ms. */
  readonly blockedMs: number;
  /** Time the stage spent idle, waiting for input from above, in ms. */
  readonly waitMs: number;
  /** Elements held right now, and the most ever held. */
  readonly buffered: number;
  readonly maxBuffered: number;
  /** Free-form gauges a connector adds (consumer lag, commits, reconnects…). */
  readonly extra: Readonly<Record<string, number>>;
  /**
   * The newest errors the stage skipped (at most {@link RECENT_SKIPS}, oldest first), each naming
   * its origin (`data.csv:17`, a socket peer); a socket source also keeps here the peers it
   * dropped (a `LimitError`), which `skipped` does not count.
   */
  readonly recentSkips: readonly unknown[];
}

/** How many skipped errors a stage keeps for inspection. */
export const RECENT_SKIPS = 10;

/** One stage's live counters. Fields are public for speed: stages bump them on the hot path. */
export class StageStats {
  in = 0;
  out = 0;
  skipped = 0;
  dropped = 0;
  blockedMs = 0;
  waitMs = 0;
  current = 0;
  maxBuffered = 0;
  readonly extra: Record<string, number> = {};
  /** Errors skipped, kept for inspection (the newest {@link RECENT_SKIPS} only). */
  readonly recentSkips: unknown[] = [];

  constructor(
    readonly name: string,
    readonly kind: StageKind,
  ) {}

  buffered(size: number): void {
    this.current = size;
    if (size > this.maxBuffered) this.maxBuffered = size;
  }

  /** Counts a skipped bad record and keeps the last few errors. */
  skip(error: unknown): void {
    this.skipped++;
    this.recentSkips.push(error);
    if (this.recentSkips.length > RECENT_SKIPS) this.recentSkips.shift();
  }

  snapshot(): StageSnapshot {
    return {
      name: this.name,
      kind: this.kind,
      in: this.in,
      out: this.out,
      skipped: this.skipped,
      dropped: this.dropped,
      blockedMs: this.blockedMs,
      waitMs: this.waitMs,
      buffered: this.current,
      maxBuffered: this.maxBuffered,
      extra: { ...this.extra },
      recentSkips: [...this.recentSkips],
    };
  }
}

/** A stage that counts into nothing, for pipelines run without statistics. */
const detached = (name: string, kind: StageKind): StageStats => new StageStats(name, kind);

/** The statistics of one pipeline: its stages in subscription order (sink first, source last). */
export class PipelineStats {
  /** Stages by the identity of the operator instance, so re-subscribing (epochs) reuses them. */
  private readonly byKey = new Map<object, StageStats>();
  private readonly names = new Map<string, number>();
  readonly startedAt = Date.now();

  /** The stage for `key` (an operator instance's token), created on first use. */
  stage(key: object, name: string, kind: StageKind): StageStats {
    let stage = this.byKey.get(key);
    if (!stage) {
      const seen = this.names.get(name) ?? 0;
      this.names.set(name, seen + 1);
      stage = new StageStats(seen === 0 ? name : `${name}#${seen + 1}`, kind);
      this.byKey.set(key, stage);
    }
    return stage;
  }

  /** Stages from source to sink. */
  snapshot(): StageSnapshot[] {
    return [...this.byKey.values()].reverse().map((s) => s.snapshot());
  }

  /** The stage named `name`, if any. */
  get(name: string): StageSnapshot | undefined {
    return this.snapshot().find((s) => s.name === name);
  }

  /** A fixed-width table, one line per stage, source first. */
  format(): string {
    const rows = this.snapshot();
    const header = ['stage', 'in', 'out', 'skipped', 'dropped', 'blocked ms', 'wait ms', 'max buf', 'extra'];
    const lines = rows.map((s) => [
      `${s.kind[0]}:${s.name}`,
      String(s.in),
      String(s.out),
      String(s.skipped),
      String(s.dropped),
      s.blockedMs.toFixed(0),
      s.waitMs.toFixed(0),
      String(s.maxBuffered),
      Object.entries(s.extra)
        .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(3)}`)
        .join(' '),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const fmt = (cells: string[]): string => cells.map((c, i) => (i === 0 || i === 8 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
    return [fmt(header), ...lines.map(fmt)].join('\n');
  }
}

/** The stage for an operator instance in `stats`, or a detached one when nobody collects. */
export function stageFor(stats: PipelineStats | undefined, key: object, name: string, kind: StageKind): StageStats {
  return stats ? stats.stage(key, name, kind) : detached(name, kind);
}
