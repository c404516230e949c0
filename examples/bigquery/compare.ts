/**
 * Reads one table three ways against the local Storage Read API server and prints rows/s:
 * the Node library's own reader (`ReadClient.createTableReader().getRowStream()`, which merges a
 * session's streams one after another), rxdata with 1 stream, and rxdata with N parallel streams.
 *
 *   npx tsx examples/bigquery/compare.ts [--streams 4] [--delay-ms 10] [--times 10]
 *
 * `--delay-ms` pauses the server before each response (1024 rows), standing in for BigQuery's
 * per-stream throughput limit; with 0 the local server and the reader share this machine's CPU
 * and the figures measure decoding more than reading. Figures are for comparison on one machine.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ReadClient } from '@google-cloud/bigquery-storage';
import { lastValueFrom } from 'rxjs';
import { consume } from '../../src/index.js';
import { fromBigQuery } from '../../connectors/bigquery/index.js';
import { bigTable, PROJECT, startLocalBigQuery } from '../../test/harness/bigquery/index.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '4' },
    'delay-ms': { type: 'string', default: '10' },
    times: { type: 'string', default: '10' },
  },
});
const streams = Number(values.streams);
const local = await startLocalBigQuery();
const table = `${PROJECT}.sensors.compare`;
local.tables.set(table, bigTable(Number(values.times)));
local.storage.batchRows = 1024;
local.storage.responseDelayMs = Number(values['delay-ms']);
// The library's reader asks for 0 streams ("server decides"): give it as many as rxdata gets.
local.storage.defaultStreams = streams;
const total = local.tables.get(table)!.rowCount;

async function timed(name: string, read: () => Promise<number>): Promise<void> {
  const started = performance.now();
  const rows = await read();
  const seconds = (performance.now() - started) / 1000;
  console.log(`${name.padEnd(40)} ${String(rows).padStart(8)} rows  ${seconds.toFixed(2).padStart(6)} s  ${Math.round(rows / seconds).toString().padStart(9)} rows/s`);
  if (rows !== total) throw new Error(`${name}: read ${rows} of ${total} rows`);
}

const rxdata = (n: number) => async (): Promise<number> => {
  let rows = 0;
  await lastValueFrom(fromBigQuery({ ...local.connection, table, streams: n }).pipe(consume(() => void rows++)), { defaultValue: undefined });
  return rows;
};

try {
  console.log(`table of ${total} rows, ${streams} streams, ${values['delay-ms']} ms per 1024-row response\n`);
  await timed('@google-cloud/bigquery-storage TableReader', async () => {
    const [host, port] = local.storage.endpoint.split(':');
    const client = new ReadClient({ apiEndpoint: host, port: Number(port), sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' });
    const reader = await client.createTableReader({ table: { projectId: PROJECT, datasetId: 'sensors', tableId: 'compare' } });
    let rows = 0;
    for await (const _row of await reader.getRowStream()) rows++;
    client.close();
    return rows;
  });
  await timed('rxdata fromBigQuery, 1 stream', rxdata(1));
  await timed(`rxdata fromBigQuery, ${streams} streams in parallel`, rxdata(streams));
} finally {
  await local.close();
}
