/**
 * `fromBigQuery`'s table mode in a resumable pipeline (src/state/, docs/resume.md): its position
 * is the read session and, per stream, where the last row emitted into the pipeline lies (the
 * row offset of its Arrow batch, and how many rows of it were emitted: skipped bad rows are
 * skipped again), not what the push buffer holds. A restored subscription reuses the session and
 * opens each stream's ReadRows at that offset, while the session lives; after it expired (BigQuery
 * keeps sessions 6 hours) the position is void and `resumable` restarts the epoch (a warning says so).
 *
 * ```
 * ReadRows(stream i, offset) ─▶ rows tagged (i, batch offset, k) ─▶ push buffer ─▶ emitter ─▶ positions[i]
 * ```
 * Holds one entry per stream, and one WeakMap entry per row in flight.
 */
import { Observable } from 'rxjs';
import { registerStage } from '../../src/state/registry.js';
import type { ReadSessionInfo } from './session.js';

/** Where a stream is: ReadRows reopens at `offset`, and the first `emitted` rows read from there were emitted already. */
export interface StreamPosition {
  readonly offset: number;
  readonly emitted: number;
}

/** What `fromBigQuery` (table mode) saves. */
export interface BigQueryState {
  readonly session: ReadSessionInfo;
  /** Per stream index. */
  readonly streams: Readonly<Record<number, StreamPosition>>;
  /** When the session expires (ms since the epoch), when the server said: the position is void after it. */
  readonly expiresAt?: number;
}

/** One subscription's resume context, handed to the stream reader. */
export interface BigQueryResume {
  readonly restored: BigQueryState | undefined;
  /** The session being read (made or reused). */
  onSession(session: ReadSessionInfo): void;
  /** Marks `row` (a row object or a column batch) as stream `stream`'s, read from `offset` on, the `emitted`-th from there. */
  tag(row: object, stream: number, offset: number, emitted: number): void;
}

/** Registers a table-mode source as a stage; `handOff` gives the reader the subscription's context just before it opens. */
export function resumableTable<T extends object>(source: Observable<T>, name: string, handOff: (resume: BigQueryResume) => void): Observable<T> {
  return new Observable<T>((subscriber) => {
    let session: ReadSessionInfo | undefined;
    const positions = new Map<number, StreamPosition>();
    const tags = new WeakMap<object, { stream: number; position: StreamPosition }>();
    const handle = registerStage({
      kind: 'bigquery',
      name,
      role: 'source',
      save: (): BigQueryState => {
        if (!session) throw new Error(`checkpoint: ${name} has no read session yet (it is being created): take the checkpoint after the first rows`);
        return { session, streams: Object.fromEntries(positions), expiresAt: session.expireTime };
      },
    });
    if (!handle) return source.subscribe(subscriber);
    const restored = handle.restored as BigQueryState | undefined;
    for (const [k, p] of Object.entries(restored?.streams ?? {})) positions.set(Number(k), p);
    handOff({
      restored,
      onSession: (s) => (session = s),
      tag: (row, stream, offset, emitted) => tags.set(row, { stream, position: { offset, emitted } }),
    });
    return source.subscribe(
      handle.emitter(subscriber, (row) => {
        const tag = tags.get(row);
        if (tag) positions.set(tag.stream, tag.position);
      }),
    );
  });
}
