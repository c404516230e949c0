/**
 * `rxdata/rxjs`: all of RxJS, with the operators that buffer, fan in or fan out replaced by
 * versions that obey demand (same names and signatures). Swapping the import is the migration:
 *
 * ```ts
 * import { map, concatMap, zip, share } from 'rxdata/rxjs'; // was: from 'rxjs'
 * ```
 *
 * Safe as they are (re-exported unchanged): the synchronous one-in, at-most-one-out operators
 * (`map`, `filter`, `tap`…). The synchronous ones that keep state across elements (`take`,
 * `scan`, `bufferCount`, `distinct`…) are RxJS's own outside a resumable pipeline and save their
 * state inside one (docs/resume.md). See docs/ARCHITECTURE.md, "RxJS operators", for every
 * operator and its bound.
 */
export * from 'rxjs';
export { mergeMap, DEFAULT_MERGE_CONCURRENCY } from '../operators/mergeMap.js';
export { concatMap } from '../operators/concatMap.js';
export { exhaustMap } from '../operators/exhaustMap.js';
export { merge } from '../operators/merge.js';
export { concat } from '../operators/concat.js';
export { zip } from '../operators/zip.js';
export { observeOn } from '../operators/observeOn.js';
export { delay } from '../operators/delay.js';
export { share, type ShareOptions } from '../operators/share.js';
export { shareReplay, type ShareReplayConfig } from '../operators/shareReplay.js';
export { groupBy, type GroupByOptions } from '../operators/groupBy.js';
export { bufferTime, BUFFER_TIME_HOLD } from '../operators/bufferTime.js';
export { windowTime } from '../operators/windowTime.js';
export { lossy } from '../operators/lossy.js';
export { DEFAULT_SCHEDULED_BUFFER, type ScheduledOptions } from './scheduled.js';
// Stateful synchronous operators that save their state in a resumable pipeline (docs/resume.md);
// outside one they are RxJS's own. These replace the star export's.
export {
  bufferCount,
  count,
  defaultIfEmpty,
  distinct,
  distinctUntilChanged,
  distinctUntilKeyChanged,
  elementAt,
  every,
  find,
  findIndex,
  first,
  last,
  max,
  min,
  pairwise,
  reduce,
  scan,
  skip,
  skipLast,
  skipWhile,
  startWith,
  take,
  takeLast,
  takeWhile,
  throwIfEmpty,
  toArray,
  windowCount,
} from './state/rxjsOperators.js';
export { stateful, type StatefulParts } from './state/stateful.js';
