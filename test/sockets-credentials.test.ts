/**
 * Credentials never reach an error: the user:password and token query parameters of WebSocket
 * and MQTT URLs are masked in every message, origin and cause (`console.error(err)` prints
 * `util.inspect(err)`, cause included).
 */
import test from 'ava';
import { inspect } from 'node:util';
import { lastValueFrom } from 'rxjs';
import { RxDataError, redactSecrets, redactUrl, safeCause } from '../src/errors.js';
import { fromMqtt, fromWebSocket } from '../connectors/sockets/index.js';

const SECRETS = ['hunter2', 's3cr3t', 'pw-secret', 'k3y'];
const leaks = (error: unknown): string[] => {
  const printed = `${inspect(error, { depth: 20 })} ${(error as Error).message} ${(error as RxDataError).origin ?? ''}`;
  return SECRETS.filter((s) => printed.includes(s));
};

test('redactUrl masks user, password and secret query values, and nothing else', (t) => {
  t.is(redactUrl('wss://bob:hunter2@host:8443/feed?token=s3cr3t&room=1&access_token=a&api-key=k3y'), 'wss://***:***@host:8443/feed?token=***&room=1&access_token=***&api-key=***');
  t.is(redactUrl('mqtt://bob@broker:1883'), 'mqtt://***@broker:1883');
  t.is(redactUrl('ws://host/plain?room=1'), 'ws://host/plain?room=1');
  t.is(redactUrl('see ws://bob:hunter2@ho st'), 'see ws://***@ho st', 'text that is not a URL');
  t.is(redactSecrets('GET https://x/y?key=k3y&a=1 Authorization: Bearer ya29.s3cr3t'), 'GET https://x/y?key=***&a=1 Authorization: Bearer ***');
  const cause = safeCause(Object.assign(new Error('denied for hunter2'), { code: 403, config: { headers: { Authorization: 'Bearer s3cr3t' } } }), ['hunter2']);
  t.is(cause.message, 'denied for ***');
  t.is((cause as Error & { code?: number }).code, 403);
  t.deepEqual(leaks(cause), []);
});

test('fromWebSocket: a refused connection names the URL without its credentials', async (t) => {
  const url = 'ws://bob:hunter2@127.0.0.1:1/feed?token=s3cr3t&room=1';
  const error = await t.throwsAsync(lastValueFrom(fromWebSocket(url, { reconnect: false })), { instanceOf: RxDataError });
  t.is(error?.origin, 'ws ws://***:***@127.0.0.1:1/feed?token=***&room=1');
  t.regex(error?.message ?? '', /ECONNREFUSED/);
  t.deepEqual(leaks(error), []);
});

test('fromWebSocket: a malformed URL fails the source without quoting its credentials', async (t) => {
  const error = await t.throwsAsync(lastValueFrom(fromWebSocket('ftp://bob:hunter2@127.0.0.1:1/?token=s3cr3t', { reconnect: false })), { instanceOf: RxDataError });
  t.deepEqual(leaks(error), []);
});

test('fromMqtt: connection errors name the broker without the URL credentials or the client password', async (t) => {
  const url = 'mqtt://bob:hunter2@127.0.0.1:1?token=s3cr3t';
  const error = await t.throwsAsync(lastValueFrom(fromMqtt({ url, topics: 'a', reconnect: false, clientOptions: { password: 'pw-secret', connectTimeout: 500 } })), { instanceOf: RxDataError });
  t.regex(error?.origin ?? '', /^mqtt mqtt:\/\/\*\*\*:\*\*\*@127\.0\.0\.1:1/);
  t.deepEqual(leaks(error), []);
});
