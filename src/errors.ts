/**
 * Errors that say where bad input came from. Every error rxdata raises about data names its
 * origin (a file and line, a topic/partition/offset, a socket peer, an element index), so a user
 * can find the record, and `onError: 'skip'` can count it.
 */

/** Base class: `origin` names where the failure happened, `cause` is the underlying error. */
export class RxDataError extends Error {
  override name = 'RxDataError';
  constructor(
    message: string,
    readonly origin?: string,
    options?: { cause?: unknown },
  ) {
    super(origin ? `${message} (at ${origin})` : message, options);
  }
}

/** A record that could not be read or decoded: malformed CSV, bad CRC, poison Kafka message. */
export class RecordError extends RxDataError {
  override name = 'RecordError';
}

/** A user function failed on one element of a pipeline (a map, a consume callback). */
export class ElementError extends RxDataError {
  override name = 'ElementError';
  constructor(
    readonly stage: string,
    readonly index: number,
    cause: unknown,
  ) {
    super(`${stage} failed on element #${index}: ${messageOf(cause)}`, undefined, { cause });
  }
}

/** A limit the user set was exceeded (cache bytes, frame size, buffer overflow with policy 'error'). */
export class LimitError extends RxDataError {
  override name = 'LimitError';
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What to do with a bad record: fail the pipeline (default) or skip it and count it. */
export type OnError = 'fail' | 'skip';

/** A file could not be written (an unwritable path, a full disk): `origin` names the file. */
export class WriteError extends RxDataError {
  override name = 'WriteError';
}
