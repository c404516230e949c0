/**
 * `tf.train.Example` records: decoding into named, typed features with a spec (like
 * `tf.io.parse_single_example`), and encoding for the writers. The message types come from a
 * small inline copy of TensorFlow's `example.proto` / `feature.proto`, compiled by protobufjs.
 */
import protobuf from 'protobufjs';
import { RecordError, messageOf } from '../../src/errors.js';
import type { NDArray } from '../../src/types.js';

const PROTO = `
syntax = "proto3";
package tensorflow;
message BytesList { repeated bytes value = 1; }
message FloatList { repeated float value = 1 [packed = true]; }
message Int64List { repeated int64 value = 1 [packed = true]; }
message Feature {
  oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; }
}
message Features { map<string, Feature> feature = 1; }
message Example { Features features = 1; }
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;
const ExampleType = root.lookupType('tensorflow.Example');

/** An int64 as protobufjs decodes it: a number, or a Long when the value needs 64 bits. */
type Int64 = number | { toNumber(): number };
interface DecodedFeature {
  bytes_list?: { value?: Uint8Array[] };
  float_list?: { value?: number[] };
  int64_list?: { value?: Int64[] };
}
interface DecodedExample {
  features?: { feature?: Record<string, DecodedFeature> };
}

/** The kinds of feature a spec can ask for: `int64` values must fit an int32 (tfjs has no int64). */
export type FeatureType = 'float' | 'int64' | 'bytes' | 'string';

/** One feature of a spec, like `tf.io.FixedLenFeature` (with `shape`) or `VarLenFeature` (without). */
export interface FeatureDef {
  readonly type: FeatureType;
  /** Fixed shape: the record must hold exactly that many values. `[]` gives a scalar. Omit for any length. */
  readonly shape?: readonly number[];
  /** Used when the record lacks the feature (a number is repeated to fill the shape). Without it a missing feature is an error. */
  readonly default?: number | readonly number[] | string | readonly string[] | Uint8Array;
}

export type FeatureSpec = { readonly [name: string]: FeatureDef };

/** What one feature decodes to: scalars for shape `[]`, NDArrays for rank ≥ 2, typed arrays otherwise. */
export type ParsedFeature<F extends FeatureDef> = F['type'] extends 'float' | 'int64'
  ? F extends { readonly shape: readonly [] }
    ? number
    : F extends { readonly shape: readonly [number, number, ...number[]] }
      ? NDArray<F['type'] extends 'float' ? Float32Array : Int32Array>
      : F['type'] extends 'float'
        ? Float32Array
        : Int32Array
  : F['type'] extends 'bytes'
    ? F extends { readonly shape: readonly [] }
      ? Uint8Array
      : Uint8Array[]
    : F extends { readonly shape: readonly [] }
      ? string
      : string[];

export type ParsedExample<S extends FeatureSpec> = { -readonly [K in keyof S]: ParsedFeature<S[K]> };

const KIND: Record<FeatureType, keyof DecodedFeature> = { float: 'float_list', int64: 'int64_list', bytes: 'bytes_list', string: 'bytes_list' };

/** Decodes the `tf.train.Example` in `record`; a RecordError when it is not one. */
export function decodeExample(record: Uint8Array, origin?: string): Record<string, DecodedFeature> {
  let message: DecodedExample;
  try {
    // A Buffer view (no copy): protobufjs's Buffer reader is about 3x its generic Uint8Array reader.
    const bytes = Buffer.isBuffer(record) ? record : Buffer.from(record.buffer, record.byteOffset, record.byteLength);
    message = ExampleType.decode(bytes) as unknown as DecodedExample;
  } catch (error) {
    throw new RecordError(`not a tf.train.Example: ${messageOf(error)}`, origin, { cause: error });
  }
  return message.features?.feature ?? {};
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const toNumber = (v: Int64): number => (typeof v === 'number' ? v : v.toNumber());

function fail(name: string, message: string, origin: string | undefined): never {
  throw new RecordError(`feature '${name}': ${message}`, origin);
}

/** The values of one feature as the spec wants them, before shaping. */
function valuesOf(name: string, def: FeatureDef, feature: DecodedFeature | undefined, origin: string | undefined): number[] | Float32Array | Uint8Array[] | string[] {
  const kind = KIND[def.type];
  if (feature === undefined) {
    const d = def.default;
    if (d === undefined) fail(name, 'missing from the record and the spec gives no default', origin);
    const size = def.shape ? def.shape.reduce((a, b) => a * b, 1) : 1;
    if (typeof d === 'number') return new Array<number>(size).fill(d);
    if (typeof d === 'string') return def.type === 'bytes' ? [new TextEncoder().encode(d)] : [d];
    if (d instanceof Uint8Array) return def.type === 'string' ? [utf8.decode(d)] : [d];
    return [...(d as readonly (number | string)[])] as number[] | string[];
  }
  // Decoded messages carry unset oneof members as null on their prototype.
  const present = feature.float_list != null ? 'float_list' : feature.int64_list != null ? 'int64_list' : feature.bytes_list != null ? 'bytes_list' : undefined;
  if (present !== undefined && present !== kind) fail(name, `expected a ${kind}, the record holds a ${present}`, origin);
  switch (def.type) {
    case 'float':
      return Float32Array.from(feature.float_list?.value ?? []);
    case 'int64':
      return (feature.int64_list?.value ?? []).map(toNumber);
    case 'bytes':
      // Plain Uint8Array views (protobufjs hands out Buffers on Node).
      return (feature.bytes_list?.value ?? []).map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    case 'string':
      return (feature.bytes_list?.value ?? []).map((b) => utf8.decode(b));
  }
}

/** Shapes one feature's values by its definition. */
function shapeFeature(name: string, def: FeatureDef, values: ReturnType<typeof valuesOf>, origin: string | undefined): unknown {
  const shape = def.shape;
  if (shape) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) fail(name, `expected ${size} values for shape [${shape.join(', ')}], got ${values.length}`, origin);
  }
  if (def.type === 'float' || def.type === 'int64') {
    let data: Float32Array | Int32Array;
    if (def.type === 'float') {
      data = values instanceof Float32Array ? values : Float32Array.from(values as number[]);
    } else {
      const ints = values as number[];
      for (const v of ints) if (!(v >= -2147483648 && v <= 2147483647)) fail(name, `int64 value ${v} does not fit an int32`, origin);
      data = Int32Array.from(ints);
    }
    if (shape && shape.length === 0) return data[0];
    if (shape && shape.length >= 2) return { data, shape: [...shape] } satisfies NDArray;
    return data;
  }
  if (shape && shape.length === 0) return values[0];
  return values;
}

/**
 * Makes a parser of `tf.train.Example` records into named, typed features (like
 * `tf.io.parse_single_example`).
 *
 * ```
 * record bytes ──Example.decode──▶ { x: float_list [3.5], y: float_list [7.1] }
 *              ──spec────────────▶ { x: 3.5, y: 7.1 }      (spec: { x: { type: 'float', shape: [] }, … })
 * ```
 *
 * `float` → Float32Array, `int64` → Int32Array (tfjs has no int64), `bytes` → Uint8Array[],
 * `string` → string[] (UTF-8); `shape: []` gives a scalar, a rank ≥ 2 shape an NDArray. A missing
 * feature takes `default` or is a {@link RecordError} naming the feature, as is a wrong kind or count.
 * Features the spec does not name are ignored.
 *
 * @example
 * ```ts
 * const parse = parseExample({ x: { type: 'float', shape: [1] }, y: { type: 'float', shape: [1] } });
 * fromFiles('data/*.tfrecord', { format: 'tfrecord' }).pipe(map((r) => parse(r)), batch(32));
 * ```
 */
export function parseExample<const S extends FeatureSpec>(spec: S): (record: Uint8Array, origin?: string) => ParsedExample<S> {
  const entries = Object.entries(spec);
  for (const [name, def] of entries) {
    if (!(def.type in KIND)) throw new TypeError(`parseExample: feature '${name}' has unknown type '${String(def.type)}'`);
  }
  return (record, origin) => {
    const features = decodeExample(record, origin);
    const out: Record<string, unknown> = {};
    for (const [name, def] of entries) {
      const feature = Object.prototype.hasOwnProperty.call(features, name) ? features[name] : undefined;
      out[name] = shapeFeature(name, def, valuesOf(name, def, feature, origin), origin);
    }
    return out as ParsedExample<S>;
  };
}

/** An int64 feature for {@link serializeExample} (plain numbers and Float32Arrays become floats). */
export interface Int64Values {
  readonly int64: readonly (number | bigint)[] | Int32Array | BigInt64Array;
}

/**
 * A value {@link serializeExample} knows how to encode: numbers, number arrays and float arrays →
 * `float_list`; Int32Array, BigInt64Array or `{ int64: [...] }` → `int64_list`; a Uint8Array (one
 * value), strings and arrays of them → `bytes_list`.
 */
export type ExampleValue =
  | number
  | readonly number[]
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Int64Values
  | Uint8Array
  | string
  | readonly string[]
  | readonly Uint8Array[];

export type ExampleFeatures = { readonly [name: string]: ExampleValue };

const utf8Encoder = new TextEncoder();

function encodeFeature(name: string, value: ExampleValue): DecodedFeature {
  if (typeof value === 'number') return { float_list: { value: [value] } };
  if (typeof value === 'string') return { bytes_list: { value: [utf8Encoder.encode(value)] } };
  if (value instanceof Uint8Array) return { bytes_list: { value: [value] } };
  if (value instanceof Float32Array || value instanceof Float64Array) return { float_list: { value: Array.from(value) } };
  if (value instanceof Int32Array) return { int64_list: { value: Array.from(value) } };
  if (value instanceof BigInt64Array) return { int64_list: { value: Array.from(value, bigToLong) } };
  if (Array.isArray(value)) {
    const list = value as readonly (number | string | Uint8Array)[];
    if (list.every((v) => typeof v === 'number')) return { float_list: { value: list as number[] } };
    if (list.every((v) => typeof v === 'string')) return { bytes_list: { value: (list as string[]).map((s) => utf8Encoder.encode(s)) } };
    if (list.every((v) => v instanceof Uint8Array)) return { bytes_list: { value: list as Uint8Array[] } };
    throw new TypeError(`serializeExample: feature '${name}' mixes numbers, strings and bytes`);
  }
  if (typeof value === 'object' && value !== null && 'int64' in value) {
    return { int64_list: { value: Array.from(value.int64 as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? bigToLong(v) : v)) } };
  }
  throw new TypeError(`serializeExample: feature '${name}' has a value of unsupported type`);
}

/** A bigint as protobufjs's Long (the `long` package it depends on). */
function bigToLong(v: bigint): Int64 {
  const Long = protobuf.util.Long as unknown as { fromString(text: string, unsigned: boolean): Int64 } | undefined;
  if (!Long) return Number(v);
  return Long.fromString(v.toString(), false);
}

/**
 * Encodes named features as a serialised `tf.train.Example` (the bytes of one TFRecord record).
 *
 * ```
 * { x: 3.5, label: { int64: [7] }, name: 'a' } ──▶ Example{ features{ x: float_list, label: int64_list, name: bytes_list } } ──▶ bytes
 * ```
 *
 * @example
 * ```ts
 * rows$.pipe(map((r) => serializeExample({ pixels: r.pixels, label: { int64: [r.label] } })), writeTFRecord('out/train.tfrecord'));
 * ```
 */
export function serializeExample(features: ExampleFeatures): Uint8Array {
  const feature: Record<string, DecodedFeature> = {};
  for (const [name, value] of Object.entries(features)) feature[name] = encodeFeature(name, value);
  return ExampleType.encode(ExampleType.fromObject({ features: { feature } })).finish();
}
