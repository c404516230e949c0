/**
 * Building Google's clients (REST for queries, gRPC for the Storage Read API), and the retry
 * policy both paths share.
 */
import { BigQuery } from '@google-cloud/bigquery';
import { BigQueryReadClient } from '@google-cloud/bigquery-storage';
import * as grpc from '@grpc/grpc-js';
import { OAuth2Client } from 'google-auth-library';
import { RxDataError, safeCause } from '../../src/errors.js';

/** How to reach BigQuery: by default the way Google's libraries find credentials and project. */
export interface BigQueryConnection {
  /** Project that runs query jobs and read sessions (default: from the credentials / environment). */
  projectId?: string;
  /** REST endpoint for queries, e.g. `http://127.0.0.1:9050` (`new BigQuery({ apiEndpoint })`). */
  apiEndpoint?: string;
  /** Storage Read API endpoint, `host:port` (`new BigQueryReadClient({ apiEndpoint, port })`). */
  storageEndpoint?: string;
  /**
   * Plaintext gRPC and no token fetching: for local emulators and test servers only. Credentials
   * of Google's libraries are not consulted.
   */
  insecure?: boolean;
  /** A ready REST client (overrides the options above for queries). */
  bigquery?: BigQuery;
  /** A ready Storage Read client (overrides the options above for tables). */
  readClient?: BigQueryReadClient;
}

/** Retry with exponential backoff for quota, rate-limit and transient errors. */
export interface RetryOptions {
  /** Retries of one call (or of one stream without progress) before failing. Default 5. */
  retries?: number;
  /** First delay in ms, doubled each retry with ±20 % jitter, capped at `maxDelayMs`. Default 200. */
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** A token that never expires: local servers ignore it, and nothing is fetched from the network. */
function offlineAuth(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'rxdata-local', expiry_date: Date.now() + 365 * 24 * 3600 * 1000 });
  return client;
}

/** The REST client for queries. Its own retries are off: ours (with backoff, counted) apply. */
export function restClient(connection: BigQueryConnection): BigQuery {
  if (connection.bigquery) return connection.bigquery;
  return new BigQuery({
    projectId: connection.projectId,
    apiEndpoint: connection.apiEndpoint,
    autoRetry: false,
    ...(connection.insecure ? { authClient: offlineAuth() } : {}),
  });
}

/** The Storage Read API client. */
export function readClient(connection: BigQueryConnection): BigQueryReadClient {
  if (connection.readClient) return connection.readClient;
  if (!connection.storageEndpoint) return new BigQueryReadClient({ projectId: connection.projectId });
  const colon = connection.storageEndpoint.lastIndexOf(':');
  const host = colon > 0 ? connection.storageEndpoint.slice(0, colon) : connection.storageEndpoint;
  const port = colon > 0 ? Number(connection.storageEndpoint.slice(colon + 1)) : 443;
  return new BigQueryReadClient({
    projectId: connection.projectId,
    apiEndpoint: host,
    port,
    // With sslCreds google-gax uses these channel credentials as is and fetches no token.
    // Naming the universe spares google-auth-library a metadata-server probe to find it.
    ...(connection.insecure ? { sslCreds: grpc.credentials.createInsecure(), universeDomain: 'googleapis.com' } : {}),
  });
}

/** What to do about an error from either API. */
export type ErrorKind = 'retry' | 'denied' | 'missing' | 'fatal';

/** gRPC status codes (google.rpc.Code). */
const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Classifies a REST (`ApiError`, HTTP status in `code`) or gRPC (status in `code`) error. */
export function classify(error: unknown, transport: 'rest' | 'grpc'): ErrorKind {
  const e = error as { code?: unknown; errors?: { reason?: string }[]; message?: string } | undefined;
  const code = typeof e?.code === 'number' ? e.code : undefined;
  if (transport === 'rest') {
    const reasons = (e?.errors ?? []).map((r) => r.reason ?? '');
    if (reasons.some((r) => r === 'rateLimitExceeded' || r === 'backendError' || r === 'internalError')) return 'retry';
    if (code === 429 || code === 500 || code === 502 || code === 503 || code === 504) return 'retry';
    if (code === 401 || code === 403) return 'denied';
    if (code === 404) return 'missing';
    // Socket resets and the like carry no status: transient.
    if (code === undefined && /ECONNRESET|ETIMEDOUT|socket hang up|EPIPE/.test(e?.message ?? '')) return 'retry';
    return 'fatal';
  }
  switch (code) {
    case GRPC.RESOURCE_EXHAUSTED:
    case GRPC.UNAVAILABLE:
    case GRPC.DEADLINE_EXCEEDED:
    case GRPC.ABORTED:
      return 'retry';
    case GRPC.INTERNAL:
      // A reset HTTP/2 stream surfaces as INTERNAL; other INTERNAL errors are not worth a retry.
      return /RST_STREAM|stream removed|connection reset/i.test(e?.message ?? '') ? 'retry' : 'fatal';
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
      return 'denied';
    case GRPC.NOT_FOUND:
      return 'missing';
    default:
      return 'fatal';
  }
}

/** The error the pipeline fails with, naming what it was about (`table p.d.t`, `job j`). */
export function clearError(error: unknown, kind: ErrorKind, what: string): RxDataError {
  // The client's error keeps its request (headers with `Authorization: Bearer …`, URLs with
  // `access_token=`): `console.error(err)` would print them. Keep only a sanitised copy.
  const cause = safeCause(error);
  const message = cause.message;
  if (kind === 'denied') return new RxDataError(`BigQuery denied access: ${message}`, what, { cause });
  if (kind === 'missing') return new RxDataError(`BigQuery: not found: ${message}`, what, { cause });
  if (kind === 'retry') return new RxDataError(`BigQuery: still failing after retries: ${message}`, what, { cause });
  return new RxDataError(`BigQuery: ${message}`, what, { cause });
}

/** The delay before retry `attempt` (0-based). */
export function backoff(attempt: number, options: RetryOptions = {}): number {
  const { initialDelayMs = 200, maxDelayMs = 10_000 } = options;
  const base = Math.min(maxDelayMs, initialDelayMs * 2 ** attempt);
  return base * (0.8 + Math.random() * 0.4);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs `call`, retrying transient errors with backoff; other errors become a clear
 * {@link RxDataError} naming `what`. `onRetry` counts retries (a gauge in the stats).
 */
export async function withRetry<R>(
  call: () => Promise<R>,
  what: string,
  transport: 'rest' | 'grpc',
  options: RetryOptions & { signal?: AbortSignal; onRetry?: () => void } = {},
): Promise<R> {
  const { retries = 5 } = options;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const kind = classify(error, transport);
      if (kind !== 'retry' || attempt >= retries || options.signal?.aborted) throw clearError(error, kind, what);
      options.onRetry?.();
      await delay(backoff(attempt, options), options.signal);
    }
  }
}
