// The parsers on bytes (csvFast.ts, exampleBatch.ts) against the general ones (csv.ts with
// csv-parse, example.ts with protobufjs): same rows, same values, same errors, on real files and
// on random ones (fast-check).
import test from 'ava';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RecordError, fromFiles, parseExample, serializeExample, type CsvOptions, type FeatureSpec } from '../src/index.js';
import { csvRows, type LabelledRow } from '../connectors/files/csv.js';
import { numericCsv, numericCsvRows } from '../connectors/files/csvFast.js';
import { exampleParser, parseExampleBatch } from '../connectors/files/exampleBatch.js';
import { StageStats } from '../src/stats.js';
import type { OnError } from '../src/errors.js';
import { collect } from './helpers.js';

const DATA = 'examples/data';

interface Outcome {
  rows: unknown[];
  error?: string;
  skipped: number;
}

/** Splits bytes into chunks of the given sizes (cycled): line breaks and cells fall across chunk ends. */
async function* chunked(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]);
    yield Buffer.from(bytes.subarray(at, at + n));
    at += n;
  }
}

async function drain(batches: AsyncIterable<unknown[]>, stage: StageStats): Promise<Outcome> {
  const rows: unknown[] = [];
  try {
    for await (const batch of batches) rows.push(...batch);
  } catch (error) {
    return { rows, error: error instanceof RecordError ? error.message : `not a RecordError: ${String(error)}`, skipped: stage.skipped };
  }
  return { rows, skipped: stage.skipped };
}

/** The general parser (csv-parse) on `bytes`. */
function general(bytes: Uint8Array, path: string, options: CsvOptions, onError: OnError = 'fail'): Promise<Outcome> {
  const stage = new StageStats('general', 'source');
  return drain(csvRows(Readable.from([Buffer.from(bytes)]), path, options, onError, stage), stage);
}

/** The byte parser on `bytes`, read in chunks of `sizes`. */
function fast(bytes: Uint8Array, path: string, options: CsvOptions, onError: OnError = 'fail', sizes: readonly number[] = [65536]): Promise<Outcome> {
  const stage = new StageStats('fast', 'source');
  return drain(numericCsvRows(chunked(bytes, sizes), path, options, onError, stage), stage);
}

test('csv fast path: only labelled numeric rows with one-byte delimiter and quote take it', (t) => {
  t.true(numericCsv({ labels: ['y'] }));
  t.true(numericCsv({ labels: ['y'], columns: { a: { type: 'int' } }, delimiter: ';', quote: false }));
  t.false(numericCsv({}));
  t.false(numericCsv({ labels: ['y'], columns: { a: { type: 'string' } } }));
  t.false(numericCsv({ labels: ['y'], columns: { a: { type: 'bool' } } }));
  t.false(numericCsv({ labels: ['y'], delimiter: '::' }));
});

test('csv fast path: optdigits, the regression CSV and occupancy (quoted dates) read as the general parser reads them', async (t) => {
  const cases: [string, CsvOptions][] = [
    [`${DATA}/optdigits/optdigits.tra.csv`, { labels: ['Class'] }],
    [`${DATA}/optdigits/optdigits.tes.csv`, { labels: ['Class'], columns: { Class: { type: 'int' } }, select: ['Block 1', 'Block 20', 'Class'] }],
    [`${DATA}/tfrecord-regression/train.csv`, { labels: ['y'] }],
    [
      `${DATA}/occupancy/datatest.csv`,
      { header: true, columnNames: ['id', 'date', 'Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio', 'Occupancy'], labels: ['Occupancy'], select: ['Temperature', 'Light', 'CO2', 'Occupancy'] },
    ],
  ];
  for (const [path, options] of cases) {
    const bytes = readFileSync(path);
    const expected = await general(bytes, path, options);
    t.is(expected.error, undefined);
    t.true(expected.rows.length >= 1000);
    t.deepEqual(await fast(bytes, path, options), expected, path);
    // Chunk ends anywhere: inside a number, between \r and \n, inside the header.
    t.deepEqual(await fast(bytes, path, options, 'fail', [1, 7, 64, 333, 4096]), expected, `${path} in small chunks`);
  }
  // Through fromFiles, which picks the fast path for these options.
  const path = `${DATA}/optdigits/optdigits.tra.csv`;
  const rows = await collect(fromFiles(path, { format: 'csv', labels: ['Class'] }));
  t.deepEqual(rows, (await general(readFileSync(path), path, { labels: ['Class'] })).rows as LabelledRow[]);
});

test('csv fast path: bad cells and rows name file:line, as the general parser does; skip counts them', async (t) => {
  const text = [
    'a,b,y',
    '1,2,0',
    '',
    '3,x4,1', // line 4: not a number
    '5,6', // line 5: a column short
    '7, 8 ,1.5',
    '9,,1', // line 7: empty cell, no default
    '0x10,1e2,-0',
    '1,2,3,4', // line 9: a column too many
    '1.25,Infinity,2',
  ].join('\r\n');
  const bytes = new TextEncoder().encode(text);
  const options: CsvOptions = { labels: ['y'] };
  const failed = await fast(bytes, 'bad.csv', options);
  t.deepEqual(failed, await general(bytes, 'bad.csv', options));
  t.is(failed.rows.length, 1);
  t.regex(failed.error!, /column 'b': 'x4' is not a number \(at bad\.csv:4\)/);
  const skipped = await fast(bytes, 'bad.csv', options, 'skip', [5]);
  t.deepEqual(skipped, await general(bytes, 'bad.csv', options, 'skip'));
  t.is(skipped.skipped, 4);
  t.deepEqual(skipped.rows, [
    { xs: new Float32Array([1, 2]), ys: 0 },
    { xs: new Float32Array([7, 8]), ys: 1.5 },
    { xs: new Float32Array([16, 100]), ys: -0 },
    { xs: new Float32Array([1.25, Infinity]), ys: 2 },
  ]);
  // An int column with a fraction, and a default for empty cells.
  const typed: CsvOptions = { labels: ['y'], columns: { y: { type: 'int' }, b: { type: 'float', default: -1 } } };
  const ints = new TextEncoder().encode('a,b,y\n1,,2\n1,2,2.5\n');
  const out = await fast(ints, 'int.csv', typed);
  t.deepEqual(out, await general(ints, 'int.csv', typed));
  t.regex(out.error!, /column 'y': '2\.5' is not an integer \(at int\.csv:3\)/);
  t.deepEqual(out.rows, [{ xs: new Float32Array([1, -1]), ys: 2 }]);
  // A label the file lacks.
  t.regex((await fast(ints, 'int.csv', { labels: ['nope'] })).error!, /no column named 'nope'.*int\.csv:1/);
});

test('csv fast path: a quote mid-file hands the rest to the general parser, line numbers kept', async (t) => {
  const lines = ['x1,x2,y'];
  for (let i = 0; i < 40; i++) lines.push(i === 25 ? `"${i}","1.0",1` : i === 33 ? `${i},oops,1` : `${i},${i / 4},${i % 2}`);
  const bytes = new TextEncoder().encode(lines.join('\n') + '\n');
  const options: CsvOptions = { labels: ['y'] };
  for (const sizes of [[65536], [3, 50], [100]]) {
    const out = await fast(bytes, 'q.csv', options, 'fail', sizes);
    t.deepEqual(out, await general(bytes, 'q.csv', options));
    // Line 35 holds row 33 (header on line 1): the count goes on across the hand-over.
    t.regex(out.error!, /'oops' is not a number \(at q\.csv:35\)/);
    t.is(out.rows.length, 33);
  }
});

/** A cell as files write numbers: plain, fixed, exponent, padded; now and then not a number. */
const cell = fc.oneof(
  { weight: 6, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map(String) },
  // A float32 printed as a double (numpy, Python's repr): 16 or 17 digits, the approximate path.
  { weight: 6, arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }).map(String) },
  { weight: 4, arbitrary: fc.integer({ min: -1e6, max: 1e6 }).map(String) },
  { weight: 3, arbitrary: fc.tuple(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.integer({ min: 0, max: 9 })).map(([v, k]) => v.toFixed(k)) },
  { weight: 2, arbitrary: fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: 0, max: 16 })).map(([v, k]) => v.toExponential(k)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(' ', '\t', ''), fc.integer({ min: -99, max: 99 }), fc.constantFrom(' ', '')).map(([a, v, b]) => `${a}${v}${b}`) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x', '1e', '.', '-', '0x1f', '+.5', '5.', '1_0', 'NaN', '-Infinity', '１', '00012', '1e400', '12345678901234567890') },
);

test('property: random numeric CSV parses to the same floats, rows, errors and skips as the general parser', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.array(cell, { minLength: 6, maxLength: 7 }), { maxLength: 25 }),
      fc.constantFrom('\n', '\r\n', '\r'),
      fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 5 }),
      fc.constantFrom<OnError>('fail', 'skip'),
      fc.boolean(),
      async (width, table, eol, sizes, onError, trailing) => {
        const header = Array.from({ length: width }, (_, i) => `c${i}`).join(',');
        // Rows of `width` cells, a few a cell longer, the odd empty line.
        const body = table.map((cells, r) => (r % 9 === 8 ? '' : cells.slice(0, r % 11 === 10 ? width + 1 : width).join(',')));
        const bytes = new TextEncoder().encode([header, ...body].join(eol) + (trailing ? eol : ''));
        const options: CsvOptions = { labels: [`c${width - 1}`] };
        const expected = await general(bytes, 'p.csv', options, onError);
        const got = await fast(bytes, 'p.csv', options, onError, sizes);
        t.deepEqual(got, expected);
        return true;
      },
    ),
    { numRuns: 400, seed: 20261130 },
  );
});

// ── tf.train.Example ───────────────────────────────────────────────────────────────────────

/** The records of a TFRecord file (framing only, CRCs not checked here). */
function recordsOf(path: string): Uint8Array[] {
  const bytes = readFileSync(path);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = Number(bytes.readBigUInt64LE(at));
    out.push(new Uint8Array(bytes.subarray(at + 12, at + 12 + length)));
    at += 16 + length;
  }
  return out;
}

/** What a parser gives for a record: its value, or its error's message. */
function outcome<T>(parse: () => T): T | string {
  try {
    return parse();
  } catch (error) {
    return error instanceof RecordError ? error.message : `not a RecordError: ${String(error)}`;
  }
}

test('example fast path: every record TensorFlow wrote decodes as parseExample decodes it, alone and in batches', (t) => {
  const dir = `${DATA}/tfrecord-regression`;
  const records = readdirSync(dir)
    .filter((f) => f.endsWith('.tfrecord'))
    .flatMap((f) => recordsOf(join(dir, f)));
  t.is(records.length, 1000);
  const spec = { x: { type: 'float', shape: [] }, y: { type: 'float', shape: [1] } } as const;
  const slow = parseExample(spec);
  const quick = exampleParser(spec);
  for (const r of records) t.deepEqual(quick(r), slow(r));
  const batch = parseExampleBatch(spec)(records.slice(0, 300));
  t.deepEqual(batch.x.shape, [300]);
  t.deepEqual(batch.y.shape, [300, 1]);
  t.deepEqual(batch.x.data, Float32Array.from(records.slice(0, 300), (r) => slow(r).x));
  t.deepEqual(batch.y.data, Float32Array.from(records.slice(0, 300), (r) => slow(r).y[0]));
  // Variable-length and other spec forms on the same records.
  const loose = { x: { type: 'float' }, y: { type: 'float', shape: [1, 1] }, z: { type: 'int64', default: 7, shape: [2] } } as const;
  for (const r of records.slice(0, 50)) t.deepEqual(exampleParser(loose)(r), parseExample(loose)(r));
});

type Kind = 'float' | 'int64' | 'bytes';
interface RawFeature {
  readonly kind: Kind;
  readonly values: readonly number[] | readonly string[];
}

/** Encodes features the way TensorFlow does (numbers packed), or with the odd layout a fast path must hand back. */
function encode(features: [string, RawFeature][], layout: 'tf' | 'unpacked' | 'value-first' | 'duplicate'): Uint8Array {
  const varint = (v: number | bigint): number[] => {
    const out: number[] = [];
    let x = BigInt.asUintN(64, BigInt(v));
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x) byte |= 0x80;
      out.push(byte);
    } while (x);
    return out;
  };
  const field = (n: number, body: number[]): number[] => [(n << 3) | 2, ...varint(body.length), ...body];
  const text = (s: string): number[] => [...new TextEncoder().encode(s)];
  const list = ({ kind, values }: RawFeature): number[] => {
    if (kind === 'bytes') return (values as string[]).flatMap((s) => field(1, text(s)));
    const nums = values as number[];
    if (kind === 'float') {
      const f = new Uint8Array(Float32Array.from(nums).buffer);
      if (layout === 'unpacked') return nums.flatMap((_, i) => [0x0d, ...f.subarray(4 * i, 4 * i + 4)]);
      return nums.length ? field(1, [...f]) : [];
    }
    if (layout === 'unpacked') return nums.flatMap((v) => [0x08, ...varint(v)]);
    return nums.length ? field(1, nums.flatMap((v) => varint(v))) : [];
  };
  const kindField = { bytes: 1, float: 2, int64: 3 };
  const entries = features.flatMap(([name, f]) => {
    const value = field(2, field(kindField[f.kind], list(f)));
    const entry = layout === 'value-first' ? [...value, ...field(1, text(name))] : [...field(1, text(name)), ...value];
    return layout === 'duplicate' ? [...field(1, entry), ...field(1, entry)] : field(1, entry);
  });
  return Uint8Array.from(field(1, entries));
}

const rawFeature: fc.Arbitrary<RawFeature> = fc.oneof(
  fc.array(fc.float({ noNaN: true }), { maxLength: 5 }).map((values) => ({ kind: 'float' as const, values })),
  fc.array(fc.oneof(fc.integer({ min: -5, max: 5 }), fc.integer(), fc.constantFrom(2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 40, -(2 ** 40), 2 ** 35 - 1)), { maxLength: 4 }).map((values) => ({ kind: 'int64' as const, values })),
  fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }).map((values) => ({ kind: 'bytes' as const, values })),
);

const featureDef = fc.record(
  {
    type: fc.constantFrom('float', 'int64', 'bytes', 'string'),
    shape: fc.oneof(fc.constant(undefined), fc.constant([]), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 })),
    default: fc.oneof(fc.constant(undefined), fc.constant(0)),
  },
  { requiredKeys: ['type'] },
);

test('property: random Examples, specs and layouts decode to the same values or the same error', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.tuple(fc.constantFrom('a', 'b', 'x', 'label', 'é'), rawFeature), { selector: ([name]) => name, maxLength: 4 }),
      fc.dictionary(fc.constantFrom('a', 'b', 'x', 'label', 'é', 'gone'), featureDef, { maxKeys: 3 }),
      fc.constantFrom<'tf' | 'unpacked' | 'value-first' | 'duplicate'>('tf', 'tf', 'unpacked', 'value-first', 'duplicate'),
      (features, spec, layout) => {
        const record = encode(features, layout);
        const s = spec as FeatureSpec;
        t.deepEqual(
          outcome(() => exampleParser(s)(record, 'r.tfrecord byte 16')),
          outcome(() => parseExample(s)(record, 'r.tfrecord byte 16')),
        );
        return true;
      },
    ),
    { numRuns: 600, seed: 20261130 },
  );
  // protobufjs's own encoding (serializeExample: numbers unpacked) takes the fast path too.
  const record = serializeExample({ x: [1.5, -2], label: { int64: [-3] }, name: 'n' });
  const spec = { x: { type: 'float', shape: [2] }, label: { type: 'int64', shape: [] }, name: { type: 'string', shape: [] } } as const;
  t.deepEqual(exampleParser(spec)(record), { x: new Float32Array([1.5, -2]), label: -3, name: 'n' });
});

test('parseExampleBatch: one typed array per feature; a bad record is the general error, named by its origin', (t) => {
  const spec = { x: { type: 'float', shape: [2, 2] }, label: { type: 'int64', shape: [] }, w: { type: 'float', shape: [1], default: 0.5 } } as const;
  const good = (i: number): Uint8Array => encode([['x', { kind: 'float', values: [i, i + 1, i + 2, i + 3] }], ['label', { kind: 'int64', values: [-i] }]], i % 2 ? 'tf' : 'unpacked');
  const records = [0, 1, 2, 3].map(good);
  const out = parseExampleBatch(spec)(records);
  t.deepEqual(out.x, { data: Float32Array.from([0, 1, 2, 3].flatMap((i) => [i, i + 1, i + 2, i + 3])), shape: [4, 2, 2] });
  t.deepEqual(out.label, { data: new Int32Array([0, -1, -2, -3]), shape: [4] });
  // `w` is missing from every record: its default, through the general parser.
  t.deepEqual(out.w, { data: new Float32Array([0.5, 0.5, 0.5, 0.5]), shape: [4, 1] });
  const bad = [good(0), encode([['x', { kind: 'float', values: [1, 2, 3] }], ['label', { kind: 'int64', values: [1] }]], 'tf')];
  t.throws(() => parseExampleBatch(spec)(bad, (i) => `shard-1.tfrecord byte ${i * 100}`), {
    instanceOf: RecordError,
    message: /feature 'x': expected 4 values for shape \[2, 2\], got 3 \(at shard-1\.tfrecord byte 100\)/,
  });
  t.throws(() => parseExampleBatch(spec)([good(0), encode([['label', { kind: 'int64', values: [2 ** 40] }], ['x', { kind: 'float', values: [1, 2, 3, 4] }]], 'tf')]), {
    instanceOf: RecordError,
    message: /int64 value 1099511627776 does not fit an int32/,
  });
  t.throws(() => parseExampleBatch({ x: { type: 'float' } } as never), { instanceOf: TypeError, message: /'x' must be float or int64 with a fixed shape/ });
  t.deepEqual(parseExampleBatch(spec)([]).x, { data: new Float32Array(0), shape: [0, 2, 2] });
});
