// CSV headers with an unnamed column: R's write.csv (a header one cell short of its rows, as in
// the occupancy files shipped in examples/data) and pandas' to_csv with the index (an empty first
// header cell). Both name that column `Unnamed: 0`, on the general parser and on the byte path.
import test from 'ava';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fromFiles, type CsvOptions } from '../src/index.js';
import { csvRows, headerNames, withRowNames } from '../connectors/files/csv.js';
import { numericCsvRows } from '../connectors/files/csvFast.js';
import { StageStats } from '../src/stats.js';
import { collect } from './helpers.js';

const OCCUPANCY = 'examples/data/occupancy/datatraining.csv';
const tmp = (): string => mkdtempSync(join(tmpdir(), 'rxdata-names-'));

test('header names: an empty cell is Unnamed: <position>; a header one short gets Unnamed: 0 first', (t) => {
  t.deepEqual(headerNames(['', ' a ', 'b', '']), ['Unnamed: 0', 'a', 'b', 'Unnamed: 3']);
  t.deepEqual(withRowNames(['a', 'b'], 3), ['Unnamed: 0', 'a', 'b']);
  // Any other width is the row's own error, not a renaming.
  t.deepEqual(withRowNames(['a', 'b'], 2), ['a', 'b']);
  t.deepEqual(withRowNames(['a', 'b'], 4), ['a', 'b']);
});

test('the shipped occupancy CSV (R-style header) reads as is: the row names are Unnamed: 0', async (t) => {
  const rows = await collect(fromFiles(OCCUPANCY, { format: 'csv', columns: { Temperature: { type: 'float' }, Occupancy: { type: 'int' } } }));
  t.is(rows.length, 8143);
  t.deepEqual(Object.keys(rows[0]), ['Unnamed: 0', 'date', 'Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio', 'Occupancy']);
  t.like(rows[0], { 'Unnamed: 0': '1', date: '2015-02-04 17:51:00', Temperature: 23.18, Occupancy: 1 });
  t.like(rows[8142], { 'Unnamed: 0': '8143' });
  // Dropped by selecting the others; selected like any column.
  const picked = await collect(fromFiles(OCCUPANCY, { format: 'csv', select: ['Unnamed: 0', 'CO2'] }));
  t.deepEqual(picked[1], { 'Unnamed: 0': '2', CO2: '714' });
});

test('the occupancy CSV with labels (the byte path, handed to csv-parse at its quotes) equals the general parser', async (t) => {
  const options = {
    labels: ['Occupancy'],
    select: ['Temperature', 'Humidity', 'Light', 'CO2', 'HumidityRatio', 'Occupancy'],
  } satisfies CsvOptions;
  const rows = await collect(fromFiles(OCCUPANCY, { format: 'csv', ...options }));
  t.is(rows.length, 8143);
  t.deepEqual(rows[0], { xs: new Float32Array([23.18, 27.272, 426, 721.25, 0.00479298817650529]), ys: 1 });
  const stage = new StageStats('general', 'source');
  const general: unknown[] = [];
  for await (const batch of csvRows(Readable.from([readFileSync(OCCUPANCY)]), OCCUPANCY, options, 'fail', stage)) general.push(...batch);
  t.deepEqual(rows, general);
  // The index as a feature.
  const withIndex = await collect(fromFiles(OCCUPANCY, { format: 'csv', labels: ['Occupancy'], select: ['Unnamed: 0', 'CO2', 'Occupancy'] }));
  t.deepEqual(withIndex[2], { xs: new Float32Array([3, 713.5]), ys: 1 });
});

/** The byte parser over `text` cut into chunks of `size` bytes. */
async function fast(text: string, options: CsvOptions, size: number): Promise<unknown[]> {
  const bytes = new TextEncoder().encode(text);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.length; at += size) yield bytes.slice(at, at + size);
  }
  const out: unknown[] = [];
  for await (const batch of numericCsvRows(chunks(), 'f.csv', options, 'fail', new StageStats('fast', 'source'))) out.push(...batch);
  return out;
}

test('unquoted files, both styles, through fromFiles and the byte path in any chunking', async (t) => {
  const dir = tmp();
  const r = join(dir, 'r.csv');
  const pandas = join(dir, 'pandas.csv');
  writeFileSync(r, 'a,b\n0,1,2\n1,3,4\n');
  writeFileSync(pandas, ',a,b\n0,1,2\n1,3,4\n');
  const expected = [{ 'Unnamed: 0': 0, a: 1, b: 2 }, { 'Unnamed: 0': 1, a: 3, b: 4 }];
  const columns = { 'Unnamed: 0': { type: 'int' }, a: { type: 'int' }, b: { type: 'int' } } as const;
  t.deepEqual(await collect(fromFiles(r, { format: 'csv', columns })), expected);
  t.deepEqual(await collect(fromFiles(pandas, { format: 'csv', columns })), expected);
  const labelled = [{ xs: new Float32Array([0, 1]), ys: 2 }, { xs: new Float32Array([1, 3]), ys: 4 }];
  for (const path of [r, pandas]) t.deepEqual(await collect(fromFiles(path, { format: 'csv', labels: ['b'] })), labelled);
  for (const size of [1, 3, 5, 64]) {
    t.deepEqual(await fast('a,b\n0,1,2\n1,3,4\n', { labels: ['b'] }, size), labelled, `R style, chunks of ${size}`);
    t.deepEqual(await fast(',a,b\n0,1,2\n1,3,4\n', { labels: ['b'] }, size), labelled, `pandas style, chunks of ${size}`);
    // The header read on bytes, then a quote hands the file to csv-parse before the first row:
    // the header's names still get the row-name column.
    const quoted = await fast('a,b\n"0",1,2\n1,3,4\n', { labels: ['b'], select: ['Unnamed: 0', 'b'] }, size);
    t.deepEqual(quoted, [{ xs: new Float32Array([0]), ys: 2 }, { xs: new Float32Array([1]), ys: 4 }], `hand-over, chunks of ${size}`);
  }
  // Given names still win, and a header of the rows' width is left alone.
  const named = await collect(fromFiles(r, { format: 'csv', header: true, columnNames: ['id', 'x', 'y'], select: ['id'] }));
  t.deepEqual(named, [{ id: '0' }, { id: '1' }]);
  const plain = join(dir, 'plain.csv');
  writeFileSync(plain, 'a,b\n1,2\n');
  t.deepEqual(await collect(fromFiles(plain, { format: 'csv' })), [{ a: '1', b: '2' }]);
});
