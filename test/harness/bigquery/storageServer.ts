/**
 * A local BigQuery Storage Read API server (gRPC, google.cloud.bigquery.storage.v1.BigQueryRead),
 * loaded from the protos that ship with @google-cloud/bigquery-storage. It serves the tables of
 * ./tables.ts in Arrow, splits each session into contiguous streams, honours `offset`, respects
 * HTTP/2 flow control (waits for 'drain'), and fails on command.
 *
 * Not interpreted: `row_restriction` (recorded only), `SplitReadStream`, AVRO.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type * as arrow from 'apache-arrow';
import type { BigQueryField } from '../../../connectors/bigquery/index.js';
import { arrowSchema, serializedBatch, serializedSchema, type Row, type TableModel } from './tables.js';

const require = createRequire(import.meta.url);
const storageProtos = path.join(path.dirname(require.resolve('@google-cloud/bigquery-storage/package.json')), 'build/protos');
// google-gax exports no package.json; its main is build/src/index.js, its protos build/protos.
const gaxProtos = path.join(path.dirname(require.resolve('google-gax')), '../protos');

interface StreamRange {
  readonly name: string;
  readonly index: number;
  readonly start: number;
  readonly end: number;
}

interface Session {
  readonly name: string;
  readonly table: string;
  readonly model: TableModel;
  readonly fields: BigQueryField[];
  readonly schema: arrow.Schema;
  readonly streams: StreamRange[];
}

/** A fault armed by a test. */
export interface StorageFault {
  /** Fail CreateReadSession (`times` calls). */
  createSession?: { code: grpc.status; times: number; message?: string };
  /** Fail ReadRows calls at their start (`times` calls). */
  readRows?: { code: grpc.status; times: number; message?: string };
  /** Break stream `stream` (its index) once `row` rows of it were sent. */
  breakStream?: { stream: number; row: number; code: grpc.status; times: number };
}

/** What the server saw, for assertions. */
export interface StorageLog {
  sessions: { table: string; maxStreamCount: number; selectedFields: string[]; rowRestriction: string; parent: string }[];
  /** ReadRows calls: stream, offset, and the routing header the client sent. */
  readRows: { stream: string; offset: number; routing: string }[];
  /** Rows written per stream name (written to the HTTP/2 stream, i.e. accepted by flow control). */
  rowsSent: Map<string, number>;
  cancelled: number;
  /** Names of the streams whose ReadRows calls the client cancelled, in order. */
  cancelledStreams: string[];
  finished: number;
}

export interface StorageServer {
  readonly endpoint: string;
  readonly log: StorageLog;
  /** Tables by `project.dataset.table`. */
  readonly tables: Map<string, TableModel>;
  /** Tables whose reads are denied (PERMISSION_DENIED). */
  readonly denied: Set<string>;
  fault: StorageFault;
  /** Rows per ReadRowsResponse. */
  batchRows: number;
  /** Streams when the client asks for 0 ("the server decides", as BigQuery documents). */
  defaultStreams: number;
  /** A pause before each response, standing in for BigQuery's per-stream throughput (benchmarks). */
  responseDelayMs: number;
  totalRowsSent(): number;
  close(): Promise<void>;
}

type Callback<T> = (error: Partial<grpc.StatusObject> | null, value?: T) => void;

interface CreateReadSessionRequest {
  parent: string;
  maxStreamCount: number;
  readSession: { table: string; readOptions?: { selectedFields?: string[]; rowRestriction?: string } };
}

/** `projects/p/datasets/d/tables/t` → `p.d.t`. */
const tableKey = (p: string): string => p.replace(/^projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/]+)$/, '$1.$2.$3');

export async function startStorageServer(tables: Map<string, TableModel>): Promise<StorageServer> {
  const definition = protoLoader.loadSync('google/cloud/bigquery/storage/v1/storage.proto', {
    includeDirs: [storageProtos, gaxProtos],
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    google: { cloud: { bigquery: { storage: { v1: { BigQueryRead: { service: grpc.ServiceDefinition } } } } } };
  };
  const sessions = new Map<string, Session>();
  const streams = new Map<string, { session: Session; range: StreamRange }>();
  const log: StorageLog = { sessions: [], readRows: [], rowsSent: new Map(), cancelled: 0, cancelledStreams: [], finished: 0 };
  let sessionCount = 0;

  const state: StorageServer = {
    endpoint: '',
    log,
    tables,
    denied: new Set(),
    fault: {},
    batchRows: 256,
    defaultStreams: 4,
    responseDelayMs: 0,
    totalRowsSent: () => [...log.rowsSent.values()].reduce((a, b) => a + b, 0),
    close: async () => undefined,
  };

  const createReadSession = (call: grpc.ServerUnaryCall<CreateReadSessionRequest, unknown>, callback: Callback<unknown>): void => {
    const request = call.request;
    const table = tableKey(request.readSession.table);
    const selected = request.readSession.readOptions?.selectedFields ?? [];
    log.sessions.push({
      table,
      maxStreamCount: request.maxStreamCount,
      selectedFields: selected,
      rowRestriction: request.readSession.readOptions?.rowRestriction ?? '',
      parent: request.parent,
    });
    const fault = state.fault.createSession;
    if (fault && fault.times > 0) {
      fault.times--;
      return callback({ code: fault.code, details: fault.message ?? 'injected fault' });
    }
    const model = tables.get(table);
    if (!model) return callback({ code: grpc.status.NOT_FOUND, details: `Not found: Table ${table.replace('.', ':')}` });
    if (state.denied.has(table)) {
      return callback({ code: grpc.status.PERMISSION_DENIED, details: `Access Denied: Table ${table.replace('.', ':')}: User does not have permission bigquery.readsessions.create` });
    }
    const fields = selected.length > 0 ? model.fields.filter((f) => selected.includes(f.name)) : model.fields;
    const schema = arrowSchema(fields);
    const count = Math.max(1, Math.min(request.maxStreamCount || state.defaultStreams, model.rowCount || 1));
    const name = `projects/local/locations/us/sessions/s${++sessionCount}`;
    const ranges: StreamRange[] = [];
    for (let i = 0; i < count; i++) {
      ranges.push({ name: `${name}/streams/${i}`, index: i, start: Math.floor((model.rowCount * i) / count), end: Math.floor((model.rowCount * (i + 1)) / count) });
    }
    const session: Session = { name, table, model, fields, schema, streams: ranges };
    sessions.set(name, session);
    for (const range of ranges) streams.set(range.name, { session, range });
    callback(null, {
      name,
      expireTime: { seconds: Math.floor(Date.now() / 1000) + 6 * 3600 },
      dataFormat: 'ARROW',
      arrowSchema: { serializedSchema: Buffer.from(serializedSchema(schema, fields)) },
      table: request.readSession.table,
      readOptions: request.readSession.readOptions,
      streams: ranges.map((r) => ({ name: r.name })),
      estimatedRowCount: model.rowCount,
    });
  };

  const readRows = (call: grpc.ServerWritableStream<{ readStream: string; offset: number }, unknown>): void => {
    const { readStream, offset } = call.request;
    log.readRows.push({ stream: readStream, offset, routing: String(call.metadata.get('x-goog-request-params')[0] ?? '') });
    let cancelled = false;
    call.on('cancelled', () => {
      cancelled = true;
      log.cancelled++;
      log.cancelledStreams.push(readStream);
    });
    const fail = (code: grpc.status, details: string): void => {
      call.emit('error', { code, details });
    };
    const fault = state.fault.readRows;
    if (fault && fault.times > 0) {
      fault.times--;
      return fail(fault.code, fault.message ?? 'injected fault');
    }
    const found = streams.get(readStream);
    if (!found) return fail(grpc.status.NOT_FOUND, `Not found: stream ${readStream}`);
    const { session, range } = found;
    if (offset < 0 || range.start + offset > range.end) return fail(grpc.status.OUT_OF_RANGE, `offset ${offset} is past the stream's end`);
    const serve = async (): Promise<void> => {
      let position = range.start + offset;
      while (position < range.end && !cancelled) {
        const brk = state.fault.breakStream;
        if (brk && brk.times > 0 && brk.stream === range.index && position - range.start >= brk.row) {
          brk.times--;
          return fail(brk.code, 'injected stream break (connection reset)');
        }
        let end = Math.min(range.end, position + state.batchRows);
        // A break lands exactly at its row, so the client has rows up to it and no more.
        if (brk && brk.times > 0 && brk.stream === range.index && position - range.start < brk.row) end = Math.min(end, range.start + brk.row);
        if (state.responseDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, state.responseDelayMs));
        if (cancelled) break;
        const rows: Row[] = [];
        for (let r = position; r < end; r++) rows.push(session.model.row(r));
        const bytes = serializedBatch(session.schema, session.fields, rows);
        const ok = call.write({ arrowRecordBatch: { serializedRecordBatch: Buffer.from(bytes), rowCount: rows.length }, rowCount: rows.length });
        log.rowsSent.set(readStream, (log.rowsSent.get(readStream) ?? 0) + rows.length);
        position = end;
        if (!ok) {
          // Flow control: the client stopped reading; wait until it drains (or goes away).
          await new Promise<void>((resolve) => {
            const done = (): void => {
              call.off('drain', done);
              call.off('cancelled', done);
              resolve();
            };
            call.on('drain', done);
            call.on('cancelled', done);
          });
        }
      }
      if (!cancelled) {
        log.finished++;
        call.end();
      }
    };
    void serve();
  };

  const server = new grpc.Server();
  server.addService(loaded.google.cloud.bigquery.storage.v1.BigQueryRead.service, {
    createReadSession,
    readRows,
    splitReadStream: (_call: unknown, callback: Callback<unknown>) => callback({ code: grpc.status.UNIMPLEMENTED, details: 'not served locally' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, p) => (error ? reject(error) : resolve(p))),
  );
  return Object.assign(state, {
    endpoint: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        // Streams a test left open would hold tryShutdown forever.
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 500).unref();
      }),
  });
}
