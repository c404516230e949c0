/**
 * Query mode: a query job through the REST API, its results read page by page on demand.
 */
import type { Job, Query } from '@google-cloud/bigquery';
import type { Observable } from 'rxjs';
import type { OnError } from '../../src/errors.js';
import { pushSource } from '../../src/pushSource.js';
import { delay, restClient, withRetry, type BigQueryConnection, type RetryOptions } from './clients.js';
import { parseRestRow, type BigQueryField, type BigQueryRow } from './types.js';

export interface QueryReadOptions extends BigQueryConnection, RetryOptions {
  /** Standard SQL. */
  query: string;
  /** Named (`@x`, an object) or positional (`?`, an array) query parameters. */
  params?: Query['params'];
  /** Where the job runs (`US`, `EU`, `europe-west1`…). */
  location?: string;
  /** Rows per page (`maxResults`). Default 1000. */
  pageSize?: number;
  /** Rows held before the next page waits. Default: one page. */
  highWaterMark?: number;
  /** A value that does not fit its type: fail (default) or skip the row and count it. */
  onError?: OnError;
  /** Aborting fails the source with an `AbortError` naming it and stops paging (the job is left to finish). */
  signal?: AbortSignal;
  /** The stage's name in pipeline statistics. Default `bigquery`. */
  name?: string;
}

/** What a getQueryResults response holds that we read (REST `GetQueryResultsResponse`). */
interface QueryPage {
  jobComplete?: boolean;
  schema?: { fields?: BigQueryField[] };
  rows?: { f?: { v?: unknown }[] }[];
  pageToken?: string;
}

/** A query's text shortened for error messages. */
const short = (query: string): string => {
  const oneLine = query.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
};

/** Runs a query job and reads its results (see `fromBigQuery`). */
export function readQuery(options: QueryReadOptions): Observable<BigQueryRow> {
  const { pageSize = 1000, onError = 'fail' } = options;
  if (!(Number.isInteger(pageSize) && pageSize >= 1)) {
    throw new RangeError(`fromBigQuery: pageSize must be an integer >= 1, got ${pageSize}`);
  }
  return pushSource<BigQueryRow>(
    (sink) => {
      const extra = sink.stats.extra;
      extra.pages = 0;
      extra.retries = 0;
      const retry = { ...options, signal: sink.signal, onRetry: () => extra.retries++ };
      const run = async (): Promise<void> => {
        const bigquery = restClient(options);
        const [job] = (await withRetry(
          () => bigquery.createQueryJob({ query: options.query, params: options.params, location: options.location }),
          `query "${short(options.query)}"`,
          'rest',
          retry,
        )) as [Job, ...unknown[]];
        const what = `job ${job.id ?? '?'}`;
        let pageToken: string | undefined;
        let rowIndex = 0;
        let polls = 0;
        for (;;) {
          // The next page waits while the stages below are full.
          if (!sink.wantsMore) await sink.whenWantsMore();
          if (sink.signal.aborted) return;
          const response = await withRetry(
            () => job.getQueryResults({ autoPaginate: false, maxResults: pageSize, pageToken, skipParsing: true }),
            what,
            'rest',
            retry,
          );
          if (sink.signal.aborted) return;
          const page = (response[2] ?? {}) as QueryPage;
          if (page.jobComplete === false) {
            // Still running: getQueryResults waited its default 10 s server-side; ask again.
            await delay(Math.min(1000, 50 * 2 ** polls++), sink.signal);
            continue;
          }
          extra.pages++;
          const fields = page.schema?.fields ?? [];
          for (const raw of page.rows ?? []) {
            const index = rowIndex++;
            let row: BigQueryRow;
            try {
              row = parseRestRow(fields, raw, (column) => `${what} row ${index} column "${column}"`);
            } catch (error) {
              if (onError === 'skip') {
                sink.stats.skip(error);
                continue;
              }
              throw error;
            }
            sink.next(row);
          }
          pageToken = page.pageToken || undefined;
          if (!pageToken) break;
        }
        sink.complete();
      };
      run().catch((error: unknown) => {
        if (!sink.signal.aborted) sink.error(error);
      });
    },
    { highWaterMark: options.highWaterMark ?? pageSize, overflow: 'pause', name: options.name ?? 'bigquery' },
  );
}
