/**
 * Errors that say where bad input came from. Every error rxdata raises about data names its
 * origin (a file and line, a topic/partition/offset, a socket peer, an element index), so a user
 * can find the record, and `onError: 'skip'` can count it.
 */

/** Base class: `origin` names where the failure happened, `cause` is the underlying error. */
export class RxDataError extends Error {
  override name = 'RxDataError';
  constructor(
    message: string,
    readonly origin?: string,
    options?: { cause?: unknown },
  ) {
    super(origin ? `${message} (at ${origin})` : message, options);
  }
}

/** A record that could not be read or decoded: malformed CSV, bad CRC, poison Kafka message. */
export class RecordError extends RxDataError {
  override name = 'RecordError';
}

/** A user function failed on one element of a pipeline (a map, a consume callback). */
export class ElementError extends RxDataError {
  override name = 'ElementError';
  constructor(
    readonly stage: string,
    readonly index: number,
    cause: unknown,
  ) {
    super(`${stage} failed on element #${index}: ${messageOf(cause)}`, undefined, { cause });
  }
}

/** A limit the user set was exceeded (cache bytes, frame size, buffer overflow with policy 'error'). */
export class LimitError extends RxDataError {
  override name = 'LimitError';
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What to do with a bad record: fail the pipeline (default) or skip it and count it. */
export type OnError = 'fail' | 'skip';

/** Query parameters whose values are credentials (compared lower-case, `-` and `_` ignored). */
const SECRET_PARAMS = new Set(['token', 'accesstoken', 'key', 'apikey', 'password', 'passwd', 'pwd', 'secret', 'clientsecret', 'auth', 'authorization', 'signature', 'sig', 'sessiontoken', 'refreshtoken', 'idtoken']);
const isSecretParam = (name: string): boolean => SECRET_PARAMS.has(name.toLowerCase().replace(/[-_]/g, ''));

/**
 * A URL with its credentials masked, for error messages and origins: `user:password@` becomes
 * `***:***@` (a user name alone `***@`) and the values of `token`, `access_token`, `key`,
 * `api_key`, `password`, `secret`, `sig`… query parameters become `***`. Text that is not a URL
 * still has `scheme://user:pass@` masked.
 *
 * ```
 * redactUrl('wss://bob:hunter2@host/feed?token=abc&room=1')  →  'wss://***:***@host/feed?token=***&room=1'
 * ```
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactSecrets(url);
  }
  if (!parsed.username && !parsed.password && ![...parsed.searchParams.keys()].some(isSecretParam)) return url;
  if (parsed.password) parsed.password = '***';
  if (parsed.username) parsed.username = '***';
  for (const name of new Set(parsed.searchParams.keys())) if (isSecretParam(name)) parsed.searchParams.set(name, '***');
  // URLSearchParams encodes '*' as %2A: keep the mask readable.
  return parsed.toString().replace(/%2A%2A%2A/g, '***');
}

/**
 * Masks credentials that appear anywhere in a text: `scheme://user:pass@`, `Bearer <token>`,
 * `Basic <token>`, and `token=`/`access_token=`/`key=`… parameter values.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s:]*(?::[^/@\s]*)?@/gi, '$1***@')
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, '$1 ***')
    .replace(/([?&;\s"'](?:[a-z_-]*token|key|api[_-]?key|password|secret|sig|signature))=([^&\s"',;]+)/gi, '$1=***');
}

/**
 * A stand-in for a client library's error that is safe to keep as `cause`: the message with
 * credentials masked (and each of `secrets` replaced), the name and the diagnostic fields
 * (`code`, `status`, `errno`, `syscall`, `reason`), and nothing else: no request, headers or
 * config, which is where clients keep `Authorization: Bearer …`.
 */
export function safeCause(error: unknown, secrets: readonly string[] = []): Error {
  let message = messageOf(error);
  for (const secret of secrets) if (secret) message = message.split(secret).join('***');
  const safe = new Error(redactSecrets(message));
  if (error instanceof Error) safe.name = error.name;
  if (error && typeof error === 'object') {
    const e = error as Record<string, unknown>;
    const fields = safe as unknown as Record<string, unknown>;
    for (const key of ['code', 'status', 'errno', 'syscall', 'reason']) {
      const v = e[key];
      if (typeof v === 'string' || typeof v === 'number') fields[key] = typeof v === 'string' ? redactSecrets(v) : v;
    }
  }
  // The stack names our frames, not the client's state; keep ours short and secret-free.
  safe.stack = `${safe.name}: ${safe.message}`;
  return safe;
}

/** The credentials inside a URL (user, password, secret query values, and the URL itself), for {@link safeCause}. */
export function urlSecrets(url: string): string[] {
  const out = [url];
  try {
    const u = new URL(url);
    for (const part of [u.username, u.password]) if (part) out.push(part, decodeURIComponent(part));
    for (const [name, value] of u.searchParams) if (isSecretParam(name) && value) out.push(value, encodeURIComponent(value));
  } catch {
    // Not a URL: the whole text is the secret.
  }
  // Longest first, so a password is not masked inside the URL before the URL is.
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

/** A file could not be written (an unwritable path, a full disk): `origin` names the file. */
export class WriteError extends RxDataError {
  override name = 'WriteError';
}
