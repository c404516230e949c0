/**
 * What a fleet writes into its topic besides the batches: one header per record naming the
 * shard, epoch and sequence number, so that trainers can drop duplicates and tell when an epoch
 * is complete, and a restarted worker can find where its shard left off.
 *
 * ```
 * partition p = shard % P      (every record of a shard on one partition: per-shard order holds)
 *   batch  e=0 shard 3/8 seq 0 │ batch e=0 3/8 seq 1 │ … │ end e=0 3/8 count 12 │ batch e=1 3/8 seq 0 │ …
 * every other partition q ≠ p:
 *   … │ end e=0 3/8 count 12 │ …     (end markers are broadcast, own partition last)
 * header  rxdata-fleet: "1,b,<epoch>,<shard>,<shards>,<seq>,<partitions>"   (b: batch, e: end; seq = count for e)
 * ```
 */
import { RecordError } from '../../../src/errors.js';
import { encodeBatch } from '../../../src/fleet/codec.js';

/** The header every fleet record carries. */
export const FLEET_HEADER = 'rxdata-fleet';
const FORMAT = '1';

/** What a fleet record says about itself. */
export interface FleetTag {
  /** `'batch'`: a batch of the shard; `'end'`: the shard finished `epoch` with `seq` batches. */
  readonly kind: 'batch' | 'end';
  readonly epoch: number;
  readonly shard: number;
  readonly shards: number;
  /** For a batch, its index within (shard, epoch), from 0; for an end marker, the batch count. */
  readonly seq: number;
  /** The topic's partition count when the worker wrote it. */
  readonly partitions: number;
}

/** The partition a shard's batches go to. */
export const partitionOf = (shard: number, partitions: number): number => shard % partitions;

/** The message key of a shard's records (Kafka tools group and compact by it). */
export const keyOf = (shard: number): string => `shard-${shard}`;

export function formatTag(tag: FleetTag): string {
  return `${FORMAT},${tag.kind === 'batch' ? 'b' : 'e'},${tag.epoch},${tag.shard},${tag.shards},${tag.seq},${tag.partitions}`;
}

/** The value of an end marker: an encoded null, so that `decode: 'batch'` reads every record. */
export const END_VALUE = encodeBatch(null);

/**
 * Reads a record's fleet header; throws a RecordError naming `origin` when it is missing or
 * malformed (a record written by something else into a fleet topic).
 */
export function parseTag(header: Buffer | string | (Buffer | string)[] | undefined, origin: string): FleetTag {
  const raw = Array.isArray(header) ? header[header.length - 1] : header;
  if (raw === undefined) throw new RecordError(`fleet: record without the ${FLEET_HEADER} header (was it written by rxdata-worker?)`, origin);
  const text = typeof raw === 'string' ? raw : raw.toString('latin1');
  const parts = text.split(',');
  if (parts[0] !== FORMAT) throw new RecordError(`fleet: ${FLEET_HEADER} header format '${parts[0]}', this rxdata reads '${FORMAT}'`, origin);
  const nums = parts.slice(2).map(Number);
  const [epoch, shard, shards, seq, partitions] = nums;
  const valid = parts.length === 7 && (parts[1] === 'b' || parts[1] === 'e') && nums.every((n) => Number.isSafeInteger(n) && n >= 0) && shards >= 1 && shard < shards && partitions >= 1;
  if (!valid) throw new RecordError(`fleet: malformed ${FLEET_HEADER} header '${text.slice(0, 80)}'`, origin);
  return { kind: parts[1] === 'b' ? 'batch' : 'end', epoch, shard, shards, seq, partitions };
}

/** Orders two (epoch, seq) positions of one shard. */
export const before = (a: { epoch: number; seq: number }, b: { epoch: number; seq: number }): boolean => a.epoch < b.epoch || (a.epoch === b.epoch && a.seq < b.seq);

/**
 * The header of a record of the epoch topic (`<topic>-epochs`): where the shard's own end marker
 * of the epoch lies in the data topic, `<partition>,<offset>`. The record's `rxdata-fleet` header
 * is the end marker's own.
 */
export const FLEET_AT_HEADER = 'rxdata-fleet-at';

export const formatAt = (partition: number, offset: string): string => `${partition},${offset}`;

/** Reads an epoch record's position header; throws a RecordError naming `origin` when malformed. */
export function parseAt(header: Buffer | string | (Buffer | string)[] | undefined, origin: string): { partition: number; offset: bigint } {
  const raw = Array.isArray(header) ? header[header.length - 1] : header;
  const text = raw === undefined ? '' : typeof raw === 'string' ? raw : raw.toString('latin1');
  const m = /^(\d{1,9}),(\d{1,19})$/.exec(text);
  if (!m) throw new RecordError(`fleet: epoch record without a valid ${FLEET_AT_HEADER} header ('${text.slice(0, 40)}')`, origin);
  return { partition: Number(m[1]), offset: BigInt(m[2]) };
}
