/**
 * A local BigQuery REST API v2 server (node:http) for what @google-cloud/bigquery calls when a
 * query job is run and its results paged: `jobs.insert` (POST /projects/{p}/jobs),
 * `jobs.getQueryResults` (GET /projects/{p}/queries/{jobId}) with `maxResults` / `pageToken`,
 * `jobs.get`, and `jobs.cancel`. Every request is logged.
 *
 * The SQL is not executed. The query's table is read from its FROM clause (`p.d.t`, with or
 * without backticks), an optional trailing `LIMIT n` is honoured, and the whole table is the
 * result; a query naming no served table is "Not found". Faults are armed per route.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { restRow, type TableModel } from './tables.js';

export type RestRoute = 'insert' | 'getQueryResults' | 'get';

export interface RestFault {
  route: RestRoute;
  status: number;
  times: number;
  reason?: string;
  message?: string;
}

export interface RestRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
}

export interface RestServer {
  readonly endpoint: string;
  readonly log: RestRequest[];
  readonly tables: Map<string, TableModel>;
  readonly denied: Set<string>;
  faults: RestFault[];
  /** getQueryResults answers `jobComplete: false` this many times per job before the rows. */
  pendingPolls: number;
  close(): Promise<void>;
}

interface JobState {
  id: string;
  project: string;
  location: string;
  table: string;
  limit: number;
  query: string;
  polls: number;
}

const errorBody = (status: number, reason: string, message: string): unknown => ({
  error: { code: status, message, errors: [{ message, domain: 'global', reason }], status: reason },
});

const reasonOf = (status: number): string =>
  status === 429 ? 'rateLimitExceeded' : status === 403 ? 'accessDenied' : status === 404 ? 'notFound' : status >= 500 ? 'backendError' : 'invalid';

export async function startRestServer(tables: Map<string, TableModel>): Promise<RestServer> {
  const jobs = new Map<string, JobState>();
  const state: RestServer = { endpoint: '', log: [], tables, denied: new Set(), faults: [], pendingPolls: 0, close: async () => undefined };

  const takeFault = (route: RestRoute): RestFault | undefined => {
    const fault = state.faults.find((f) => f.route === route && f.times > 0);
    if (fault) fault.times--;
    return fault;
  };

  const jobResource = (job: JobState): unknown => ({
    kind: 'bigquery#job',
    id: `${job.project}:${job.location}.${job.id}`,
    jobReference: { projectId: job.project, jobId: job.id, location: job.location },
    configuration: { query: { query: job.query, useLegacySql: false }, jobType: 'QUERY' },
    status: { state: 'DONE' },
    statistics: { creationTime: String(Date.now()), startTime: String(Date.now()), endTime: String(Date.now()) },
  });

  const handle = (method: string, route: string[], query: URLSearchParams, body: unknown): [number, unknown] => {
    // /bigquery/v2/projects/{p}/jobs | /bigquery/v2/projects/{p}/jobs/{id} | /bigquery/v2/projects/{p}/queries/{id}
    const [, , , project, kind, id, action] = route;
    if (kind === 'datasets' && action === 'tables' && route[7] && method === 'GET') {
      // tables.get: what cardinality reads (numRows).
      const name = `${project}.${id}.${route[7]}`;
      const model = tables.get(name);
      return model ? [200, { kind: 'bigquery#table', id: name, numRows: String(model.rowCount) }] : [404, errorBody(404, 'notFound', `Not found: Table ${name}`)];
    }
    if (kind === 'jobs' && method === 'POST' && !id) {
      const fault = takeFault('insert');
      if (fault) return [fault.status, errorBody(fault.status, fault.reason ?? reasonOf(fault.status), fault.message ?? 'injected fault')];
      const request = body as { jobReference?: { jobId?: string; location?: string }; configuration?: { query?: { query?: string } } };
      const sql = request.configuration?.query?.query ?? '';
      const from = /\bFROM\s+`?([\w-]+)[.:](\w+)\.(\w+)`?/i.exec(sql);
      const table = from ? `${from[1]}.${from[2]}.${from[3]}` : '';
      if (!tables.has(table)) return [404, errorBody(404, 'notFound', `Not found: Table ${table.replace('.', ':') || '(none in query)'} was not found in location US`)];
      if (state.denied.has(table)) return [403, errorBody(403, 'accessDenied', `Access Denied: Table ${table.replace('.', ':')}: User does not have permission to query table`)];
      const limit = /\bLIMIT\s+(\d+)\s*;?\s*$/i.exec(sql);
      const job: JobState = {
        id: request.jobReference?.jobId ?? `job_${jobs.size + 1}`,
        project,
        location: request.jobReference?.location ?? 'US',
        table,
        limit: limit ? Number(limit[1]) : Infinity,
        query: sql,
        polls: 0,
      };
      jobs.set(job.id, job);
      return [200, jobResource(job)];
    }
    if (kind === 'jobs' && id && action === 'cancel' && method === 'POST') {
      const job = jobs.get(id);
      return job ? [200, { kind: 'bigquery#jobCancelResponse', job: jobResource(job) }] : [404, errorBody(404, 'notFound', `Not found: Job ${project}:${id}`)];
    }
    if (kind === 'jobs' && id && method === 'GET') {
      const fault = takeFault('get');
      if (fault) return [fault.status, errorBody(fault.status, fault.reason ?? reasonOf(fault.status), fault.message ?? 'injected fault')];
      const job = jobs.get(id);
      return job ? [200, jobResource(job)] : [404, errorBody(404, 'notFound', `Not found: Job ${project}:${id}`)];
    }
    if (kind === 'queries' && id && method === 'GET') {
      const fault = takeFault('getQueryResults');
      if (fault) return [fault.status, errorBody(fault.status, fault.reason ?? reasonOf(fault.status), fault.message ?? 'injected fault')];
      const job = jobs.get(id);
      if (!job) return [404, errorBody(404, 'notFound', `Not found: Job ${project}:${id}`)];
      if (job.polls++ < state.pendingPolls) {
        return [200, { kind: 'bigquery#getQueryResultsResponse', jobReference: { projectId: job.project, jobId: job.id, location: job.location }, jobComplete: false }];
      }
      const model = tables.get(job.table)!;
      const total = Math.min(model.rowCount, job.limit);
      const token = query.get('pageToken');
      const start = token ? Number(/^page-(\d+)$/.exec(token)?.[1] ?? NaN) : Number(query.get('startIndex') ?? 0);
      if (!Number.isInteger(start)) return [400, errorBody(400, 'invalid', `Invalid page token ${token}`)];
      const size = Math.min(Number(query.get('maxResults') ?? 100_000), 100_000);
      const end = Math.min(total, start + size);
      const int64Timestamp = query.get('formatOptions.useInt64Timestamp') === 'true';
      const rows = [];
      for (let r = start; r < end; r++) rows.push(restRow(model.fields, model.row(r), int64Timestamp));
      return [
        200,
        {
          kind: 'bigquery#getQueryResultsResponse',
          etag: `"${job.id}-${start}"`,
          schema: { fields: model.fields },
          jobReference: { projectId: job.project, jobId: job.id, location: job.location },
          totalRows: String(total),
          ...(end < total ? { pageToken: `page-${end}` } : {}),
          rows,
          totalBytesProcessed: '0',
          jobComplete: true,
          cacheHit: false,
        },
      ];
    }
    return [404, errorBody(404, 'notFound', `Not served locally: ${method} ${route.join('/')}`)];
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const method = req.method ?? 'GET';
      state.log.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), body });
      const route = url.pathname.split('/').filter(Boolean);
      const [status, payload] = route[0] === 'bigquery' && route[1] === 'v2' && route[2] === 'projects' ? handle(method, route, url.searchParams, body) : [404, errorBody(404, 'notFound', `Not served locally: ${url.pathname}`)];
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
