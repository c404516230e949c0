/**
 * `AbortSignal` for sources and sinks. A source given `{ signal }` fails with an `AbortError`
 * naming it once the signal aborts, and its teardown releases what it holds (file handles,
 * consumers, sockets, timers), exactly as an unsubscribe would. Failing rather than completing
 * lets everything downstream tell an interrupted stream from a finished one.
 *
 * ```
 * source:                  -a-b-c-d-e-…
 * signal:                  -------x
 * withSignal(source, s):   -a-b-c-X       AbortError: fromFiles(data/*.csv): aborted
 * ```
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * fromFiles('data/*.csv', { format: 'csv', signal: controller.signal }).subscribe(...);
 * process.once('SIGINT', () => controller.abort());
 * ```
 */
import { Observable } from 'rxjs';
import { CARDINALITY, declareCardinality, type CardinalityInput } from './cardinality.js';
import { RxDataError } from './errors.js';

/** The stream was stopped by its `AbortSignal`; `cause` is the signal's reason. */
export class AbortError extends RxDataError {
  override name = 'AbortError';
}

/** The error a source named `origin` fails with when `signal` aborts. */
export function abortError(origin: string, signal: AbortSignal): AbortError {
  return new AbortError(`${origin}: aborted`, undefined, { cause: signal.reason });
}

/**
 * `source` that fails with an `AbortError` naming `origin` when `signal` aborts (at once when it
 * already has). Without a signal, `source` itself. Keeps the source's declared cardinality.
 */
export function withSignal<T>(source: Observable<T>, signal: AbortSignal | undefined, origin: string): Observable<T> {
  if (!signal) return source;
  const wrapped = new Observable<T>((subscriber) => {
    if (signal.aborted) {
      subscriber.error(abortError(origin, signal));
      return undefined;
    }
    const onAbort = (): void => subscriber.error(abortError(origin, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    subscriber.add(() => signal.removeEventListener('abort', onAbort));
    // The Subscriber itself goes upstream, so a `take(n)` below stops a synchronous source at once.
    return source.subscribe(subscriber);
  });
  const declared = (source as { [CARDINALITY]?: CardinalityInput })[CARDINALITY];
  return declared === undefined ? wrapped : declareCardinality(wrapped, declared);
}
