// Where a bad file is reported: an unterminated CSV quote at the line where its record starts
// (not at the end of the file), and gzip damage at the compressed byte offset and the line reached.
import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, gzipSync, inflateRawSync } from 'node:zlib';
import { lastValueFrom, toArray, type Observable } from 'rxjs';
import { PipelineStats, RecordError, consume, fromFiles, type CsvOptions } from '../src/index.js';
import { numericCsvRows } from '../connectors/files/csvFast.js';
import { StageStats } from '../src/stats.js';

const dir = mkdtempSync(join(tmpdir(), 'rxdata-positions-'));
const file = (name: string, content: string | Uint8Array): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** The rows a source gave before it failed, and its error. */
async function run<T>(source: Observable<T>, stats = new PipelineStats()): Promise<{ rows: T[]; error?: RecordError }> {
  const rows: T[] = [];
  try {
    await lastValueFrom(source.pipe(consume((r: T) => void rows.push(r), { stats }), toArray()));
  } catch (error) {
    if (!(error instanceof RecordError)) throw error;
    return { rows, error };
  }
  return { rows };
}

// Line 1 header, 2 a row, 3–4 a quoted field over two lines, 5 the record whose quote never closes.
const UNCLOSED = 'a,b\n1,2\n"x\ny",1\n3,"4\n5,6\n7,8\n';

test('an unterminated quote is reported at the line its record starts; the rows before it come out', async (t) => {
  const path = file('unclosed.csv', UNCLOSED);
  const failed = await run(fromFiles(path, { format: 'csv' }));
  t.deepEqual(failed.rows, [{ a: '1', b: '2' }, { a: 'x\ny', b: '1' }]);
  t.is(failed.error?.origin, `${path}:5`);
  t.regex(failed.error!.message, /quote not closed/);
  // Skipped: counted once, kept with the same origin.
  const stats = new PipelineStats();
  const skipped = await run(fromFiles(path, { format: 'csv', onError: 'skip' }), stats);
  t.is(skipped.error, undefined);
  t.is(skipped.rows.length, 2);
  const stage = stats.get('fromFiles')!;
  t.is(stage.skipped, 1);
  t.is((stage.recentSkips[0] as RecordError).origin, `${path}:5`);
});

test('an unterminated quote after the byte path handed over: the line counts on', async (t) => {
  const lines = ['x,y'];
  for (let i = 0; i < 30; i++) lines.push(i === 20 ? `${i},"${i}` : `${i},${i % 2}`);
  const text = lines.join('\n') + '\n';
  const path = file('late.csv', text);
  const failed = await run(fromFiles(path, { format: 'csv', labels: ['y'] }));
  t.is(failed.rows.length, 20);
  // Row 20 is on line 22 (header on line 1).
  t.is(failed.error?.origin, `${path}:22`);
  // In small chunks: the lines before the quote are read on bytes, the count goes on in csv-parse.
  const bytes = new TextEncoder().encode(text);
  async function* chunks(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.length; at += 7) yield bytes.slice(at, at + 7);
  }
  const options: CsvOptions = { labels: ['y'] };
  const error = await t.throwsAsync(async () => {
    for await (const batch of numericCsvRows(chunks(), 'late.csv', options, 'fail', new StageStats('s', 'source'))) void batch;
  });
  t.is((error as RecordError).origin, 'late.csv:22');
});

/** A CSV of `n` numeric rows, gzipped; and how many lines a prefix of the gzip data inflates to. */
const rowsText = (n: number): string => ['a,b,c', ...Array.from({ length: n }, (_, i) => `${i},${(i * 7919) % 10007},${i % 3}`)].join('\n') + '\n';
function linesInflatedFrom(gz: Uint8Array): number {
  // The gzip header is 10 bytes (no name); what a partial deflate stream yields, as far as it goes.
  const text = inflateRawSync(gz.subarray(10), { finishFlush: constants.Z_SYNC_FLUSH }).toString();
  return text.split('\n').length - 1;
}

const cases = [
  ['lines', { format: 'lines' }],
  ['csv', { format: 'csv' }],
  ['csv on bytes', { format: 'csv', labels: ['c'] }],
] as const;

test('a truncated .gz names the compressed byte offset and the line reached', async (t) => {
  const gz = gzipSync(rowsText(40_000));
  const cut = gz.subarray(0, Math.floor(gz.length / 2));
  const path = file('cut.csv.gz', cut);
  const complete = linesInflatedFrom(cut);
  t.true(complete > 1000);
  for (const [label, options] of cases) {
    const { error } = await run(fromFiles(path, options as never));
    const match = /^corrupt gzip data: unexpected end of file \(at (.*) compressed byte (\d+), line (\d+)\)$/.exec(error?.message ?? '');
    t.truthy(match, `${label}: ${error?.message}`);
    t.is(match![1], path);
    // Every byte was taken in: the data ends there.
    t.is(Number(match![2]), cut.length, label);
    // The line being read when the data ran out: past the start, at most one past what inflates.
    const line = Number(match![3]);
    t.true(line > 1 && line <= complete + 1, `${label}: line ${line} of ${complete + 1}`);
  }
});

test('a corrupted .gz (damaged deflate data, broken CRC) names the offset and the line reached', async (t) => {
  const gz = gzipSync(rowsText(40_000));
  // The trailer's CRC broken: everything inflates, the check fails at the end.
  const badCrc = Buffer.from(gz);
  badCrc[badCrc.length - 8] ^= 0xff;
  const crcPath = file('crc.csv.gz', badCrc);
  for (const [label, options] of cases) {
    const { error, rows } = await run(fromFiles(crcPath, options as never));
    const match = /^corrupt gzip data: incorrect data check \(at .* compressed byte (\d+), line (\d+)\)$/.exec(error?.message ?? '');
    t.truthy(match, `${label}: ${error?.message}`);
    t.true(Number(match![1]) <= badCrc.length);
    // The error comes once the reader is at the end: rows read before it, line past them.
    t.true(Number(match![2]) >= rows.length, `${label}: line ${match![2]} after ${rows.length} rows`);
  }
  // A deflate block header made invalid mid-file: zlib stops there (lines take any bytes it gave).
  const damaged = Buffer.from(gz);
  const at = Math.floor(damaged.length * 0.6);
  for (let i = at; i < at + 64; i++) damaged[i] ^= 0x5a;
  const path = file('damaged.txt.gz', damaged);
  const { error } = await run(fromFiles(path, { format: 'lines' }));
  const match = /^corrupt gzip data: .* \(at .* compressed byte (\d+), line (\d+)\)$/.exec(error?.message ?? '');
  t.truthy(match, error?.message);
  // The offset is what the inflater had consumed before the read chunk it failed in: zlib may
  // only notice damaged data further on, never before it, so that chunk reaches past the damage.
  const offset = Number(match![1]);
  t.true(offset + 64 * 1024 > at && offset < damaged.length, `offset ${offset}, damage at ${at}`);
  t.true(Number(match![2]) > 1);
});
