import { from, isObservable, type Observable, type ObservableInput, type ObservedValueOf } from 'rxjs';
import { fromIterable } from './fromIterable.js';

/**
 * RxJS's `from`, except that arrays, iterables and async iterables become sources of ours, which
 * pull only on demand (RxJS's `from` pushes them whole). Promises and Observables pass as they are.
 */
export function innerFrom<O extends ObservableInput<unknown>>(input: O): Observable<ObservedValueOf<O>> {
  if (isObservable(input)) return input as Observable<ObservedValueOf<O>>;
  if (typeof input === 'object' && input !== null && (Symbol.iterator in input || Symbol.asyncIterator in input)) {
    return fromIterable(input as Iterable<ObservedValueOf<O>> | AsyncIterable<ObservedValueOf<O>>, { name: 'from' });
  }
  return from(input) as Observable<ObservedValueOf<O>>;
}
