/**
 * How acknowledgements find their subscription, by position rather than by object identity, so
 * that what users derive from a record still acknowledges it:
 * - a record, or a spread copy of one (`{ ...r, value: f(r.value) }`), by its own
 *   `topic`/`partition`/`offset` fields; an explicit position `{ topic, partition, offset }` too;
 * - a decoded value (`map(r => r.value)`) that is an object, by the record it carries as its
 *   hidden provenance (src/provenance.ts); a batch of such values (`batch()`) by the list of them;
 * - an array of any of these (`bufferCount`).
 * An element none of this maps to is an error that says so, never a silently missing commit.
 *
 * ```
 * reader: record ─tag(SESSION)─▶ value ─tag(PROVENANCE = record)─▶ acknowledge(element)
 *         positionsIn(element) ─▶ session (tag, or the one live session holding the offset) ─▶ ack
 * ```
 */
import { RxDataError } from '../../src/errors.js';
import { PROVENANCE, provenanceOf, tagProvenance } from '../../src/provenance.js';
import type { KafkaRecord } from './types.js';

/** A record's place in Kafka; offsets as in records (decimal strings), or numbers or bigints. */
export interface KafkaPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string | number | bigint;
}

/**
 * What acknowledgement takes: a record, a copy of one, a position, a value or batch carrying
 * positions (see above), or an array of these.
 */
export type AckTarget = object | readonly AckTarget[];

/** What acknowledgement needs of a subscription (internal). */
export interface Session {
  ack(topic: string, partition: number, offset: bigint): void;
  /** Whether `offset` was emitted by this subscription and awaits its acknowledgement. */
  holds(topic: string, partition: number, offset: bigint): boolean;
  /** Commits acknowledged offsets (retrying within the budget); after teardown, the final commit. */
  flush(): Promise<void>;
}

/** The subscription an unaltered record came from (non-enumerable: records print and compare as before). */
const SESSION = Symbol('rxdata.kafka.session');
/** The provenance of a value object several records decoded to (a decoder's cache, say): no position. */
const SHARED = Symbol('rxdata.kafka.shared-value');

/** Live subscriptions committing after acknowledgement, for positions that name no subscription. */
const awaiting = new Set<Session>();

export function register(session: Session): void {
  awaiting.add(session);
}
export function unregister(session: Session): void {
  awaiting.delete(session);
}

/**
 * Marks `record` (and its value, when an object) as emitted by `session`. A value object met
 * twice (a decoder returning one object for several messages) is marked as shared: acknowledging
 * it is an error, since it cannot say which record it stands for.
 */
export function own(record: KafkaRecord<unknown>, session: Session): void {
  Object.defineProperty(record, SESSION, { value: session });
  const value: unknown = record.value;
  if (typeof value !== 'object' || value === null) return;
  tagProvenance(value, provenanceOf(value) === undefined ? record : SHARED);
}

const isPosition = (x: object): x is KafkaPosition & { [SESSION]?: Session } => {
  const p = x as Partial<KafkaPosition>;
  return typeof p.topic === 'string' && typeof p.partition === 'number' && (typeof p.offset === 'string' || typeof p.offset === 'number' || typeof p.offset === 'bigint');
};

/** Why an element maps to no position, for the error. */
function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x !== 'object') return `a ${typeof x} (a primitive value cannot carry its record's position)`;
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name} built after the source (a new object does not carry its records' positions)`;
  const keys = Object.keys(x).slice(0, 5);
  return `an object with keys [${keys.join(', ')}] that is neither a record, a position nor a value or batch of values fromKafka emitted`;
}

const HOW =
  'acknowledge needs records (or spread copies of them), { topic, partition, offset } positions, values fromKafka decoded to objects, ' +
  'batches of those built by batch(), or arrays of any of these; keep the record beside what you derive, or pass a selector that returns them';

/** One element's positions, each with the subscription it names when it knows it. */
export function positionsIn(element: unknown, out: { position: KafkaPosition; session: Session | undefined }[], where = 'acknowledge'): void {
  if (typeof element !== 'object' || element === null) throw new RxDataError(`${where}: an element carries no Kafka position: it is ${describe(element)}; ${HOW}`, 'acknowledge');
  const carried = (element as { [PROVENANCE]?: unknown })[PROVENANCE];
  if (carried === SHARED) {
    throw new RxDataError(`${where}: a value object stands for several Kafka records (the decoder returned one object for several messages), so it names no position; acknowledge the records`, 'acknowledge');
  }
  if (carried !== undefined) {
    // A value's record, or a batch's list of its elements' provenances (nested for batches of batches).
    if (Array.isArray(carried)) for (const p of carried as unknown[]) positionsIn(p, out, `${where} (an element of a batch)`);
    else positionsIn(carried, out, where);
    return;
  }
  if (isPosition(element)) {
    out.push({ position: element, session: element[SESSION] });
    return;
  }
  if (Array.isArray(element)) {
    for (const item of element as unknown[]) positionsIn(item, out, `${where} (an item of an array)`);
    return;
  }
  throw new RxDataError(`${where}: an element carries no Kafka position: it is ${describe(element)}; ${HOW}`, 'acknowledge');
}

/**
 * Acknowledges every position `target` carries in the subscription it came from: named by the
 * record itself, else the one live subscription (among `among`, default all) holding the offset.
 * A position no live subscription holds is done already (committed, or its partition moved to
 * another group member). Returns the subscriptions touched.
 */
export function acknowledgeIn(target: AckTarget, among: ReadonlySet<Session> = awaiting): Set<Session> {
  const found: { position: KafkaPosition; session: Session | undefined }[] = [];
  try {
    positionsIn(target, found);
  } catch (error) {
    // With no subscription awaiting acknowledgements (commit 'none' or 'on-read', or all closed),
    // there is no commit to miss: values without positions are fine there.
    for (const s of among) if (awaiting.has(s)) throw error;
    return new Set();
  }
  const touched = new Set<Session>();
  for (const { position, session } of found) {
    const offset = BigInt(position.offset);
    let owner = session;
    if (!owner) {
      for (const s of among) {
        if (!s.holds(position.topic, position.partition, offset)) continue;
        if (owner) {
          throw new RxDataError(
            `acknowledge: topic ${position.topic} partition ${position.partition} offset ${offset} awaits acknowledgement in several fromKafka subscriptions (different groups reading one topic), and a copy of a record does not say which; acknowledge the records themselves, or call ack() on the source they came from`,
            'acknowledge',
          );
        }
        owner = s;
      }
    }
    if (!owner) continue;
    owner.ack(position.topic, position.partition, offset);
    touched.add(owner);
  }
  return touched;
}
