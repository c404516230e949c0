import mqtt, { type IClientOptions, type IPublishPacket } from 'mqtt';
import type { Observable } from 'rxjs';
import { RxDataError } from '../../src/errors.js';
import { pushSource } from '../../src/pushSource.js';
import { liveData, refuseCheckpoint } from '../../src/state/refuse.js';
import { redactUrl, safeCause, urlSecrets } from '../../src/errors.js';
import { decodeFrame, reportBad, type RecordErrorOptions } from './common.js';
import { json, type Decoder } from './framing.js';

export interface FromMqttOptions<T> extends RecordErrorOptions {
  /** Broker URL: `mqtt://host:1883`, `mqtts://…`, `ws://…`. */
  url: string;
  /** Topic filters to subscribe to (wildcards `+`, `#` allowed). */
  topics: string | readonly string[];
  /**
   * 1 (default): the acknowledgement of a message is held while the pipeline is full, so the
   * broker stops sending; with `clean: false` and a fixed `clientId` nothing is lost across a
   * reconnect. 0: the broker never waits; a bounded buffer drops by `overflow`. 2: like 1.
   */
  qos?: 0 | 1 | 2;
  /** A fixed client id: the broker keeps this client's session (subscriptions, queued messages) under it. */
  clientId?: string;
  /** `false` asks the broker to keep the session while we are away (needs `clientId`). Default true. */
  clean?: boolean;
  /** Turns a payload into a record (default: UTF-8 JSON); throwing makes a RecordError naming the topic. */
  decode?: Decoder<T>;
  /** Messages held for the stages below before acknowledgements are held (QoS ≥ 1) or the overflow policy applies (QoS 0). Default 256. */
  highWaterMark?: number;
  /** QoS 0 only: drop the oldest held message (default), the new one, or fail. Drops are counted in `stats.dropped`. */
  overflow?: 'drop-oldest' | 'drop-newest' | 'error';
  /** Reconnect after a lost connection (default true), every `delayMs` (mqtt.js' fixed `reconnectPeriod`, default 1000). With `false`, losing the connection fails the pipeline. */
  reconnect?: boolean | { delayMs?: number };
  /** Other mqtt.js client options (credentials, keepalive, TLS…). */
  clientOptions?: Omit<IClientOptions, 'clientId' | 'clean' | 'reconnectPeriod'>;
  /** The source's name in pipeline statistics. */
  name?: string;
}

/** A message from a topic. */
export interface TopicRecord<T> {
  readonly topic: string;
  readonly value: T;
}

/**
 * Subscribes to MQTT topics (`mqtt.js`), one record per message, tagged with its topic.
 *
 * ```
 * broker (QoS 1):  -a-b-c-------------d-e-
 * pipeline:        [a b c] full → PUBACK of c held → broker waits …
 * fromMqtt():      -A-B-C--- drains → PUBACK c ---D-E-   ({ topic: 'sensors/7', value })
 * ```
 *
 * QoS 1 and 2: once the stages below are full, the acknowledgement of the last message is held
 * back (mqtt.js' `handleMessage` callback), and mqtt.js reads nothing more from the socket until
 * it is released, so the broker's queue, not our memory, takes the backlog. With
 * `clean: false` and a fixed `clientId` the broker keeps the session while we are disconnected
 * and redelivers what was not acknowledged (a redelivery of the held message is not emitted
 * twice). QoS 0 cannot be paused: the buffer drops by `overflow` and counts it. A malformed
 * payload is a RecordError naming `mqtt topic <topic>`; with `onError: 'skip'` it is counted and
 * acknowledged. Never completes. Statistics: `extra.connected`, `extra.reconnects`, `extra.ackHeld`.
 *
 * A held acknowledgement also holds keepalive responses: if the pipeline stays full for longer
 * than the keepalive, mqtt.js reconnects and the broker redelivers (at-least-once).
 *
 * @example
 * ```ts
 * fromMqtt<Reading>({ url: 'mqtt://broker:1883', topics: 'sensors/+', clientId: 'trainer-1', clean: false })
 *   .pipe(slidingWindow(32, { key: (r) => r.topic, features: (r) => r.value.channels }));
 * ```
 */
export function fromMqtt<T = unknown>(options: FromMqttOptions<T>): Observable<TopicRecord<T>> {
  const { url, qos = 1, onError = 'fail', clean = true } = options;
  const decode = options.decode ?? (json as Decoder<T>);
  const topics = typeof options.topics === 'string' ? [options.topics] : [...options.topics];
  if (topics.length === 0) throw new TypeError('fromMqtt: give at least one topic');
  if (!clean && !options.clientId) throw new TypeError('fromMqtt: a persistent session (clean: false) needs a fixed clientId');
  const reconnect = options.reconnect ?? true;
  const reconnectPeriod = reconnect === false ? 0 : reconnect === true ? 1000 : (reconnect.delayMs ?? 1000);
  const overflow = qos === 0 ? (options.overflow ?? 'drop-oldest') : 'pause';
  // Credentials in the URL or the client options never reach an error's message, origin or cause.
  const origin = `mqtt ${redactUrl(url)}`;
  const password = options.clientOptions?.password;
  const secrets = [...urlSecrets(url), ...(password ? [password.toString()] : [])];
  const fail = (what: string, error: unknown): RxDataError => {
    const cause = safeCause(error, secrets);
    return new RxDataError(`${what}: ${cause.message}`, origin, { cause });
  };
  return pushSource<TopicRecord<T>>((sink) => {
    refuseCheckpoint('fromMqtt', options.name ?? 'fromMqtt', liveData(`${origin} (topics ${topics.join(', ')})`), 'source');
    sink.stats.extra.connected = 0;
    sink.stats.extra.reconnects = 0;
    sink.stats.extra.ackHeld = 0;
    let everConnected = false;
    /** The acknowledgement held while the pipeline is full (mqtt.js handles one message at a time). */
    let held: { readonly callback: () => void; readonly messageId: number | undefined } | undefined;
    /** Ids of messages emitted but never acknowledged on a connection that was lost: their redelivery is not emitted again. */
    const unacked = new Set<number>();

    let client: mqtt.MqttClient;
    try {
      client = mqtt.connect(url, {
        ...options.clientOptions,
        clientId: options.clientId,
        clean,
        reconnectPeriod,
      });
    } catch (error) {
      // A malformed URL: mqtt.js throws at once, quoting it.
      sink.error(fail('cannot connect', error));
      return () => undefined;
    }
    const release = (): void => {
      const h = held;
      held = undefined;
      sink.stats.extra.ackHeld = 0;
      h?.callback();
    };
    client.handleMessage = (packet: IPublishPacket, callback: (error?: Error) => void): void => {
      const topic = packet.topic;
      const redelivered = packet.dup && packet.messageId !== undefined && unacked.delete(packet.messageId);
      if (!redelivered && !sink.signal.aborted) {
        const r = decodeFrame(decode, Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload), `mqtt topic ${topic}`);
        if (r.ok) sink.next({ topic, value: r.value });
        else if (!reportBad(sink, onError, r.error)) return;
      }
      if (packet.qos === 0 && qos === 0) return callback();
      if (sink.wantsMore || sink.signal.aborted) return callback();
      held = { callback: () => callback(), messageId: packet.messageId };
      sink.stats.extra.ackHeld = 1;
    };
    sink.onWantMore(release);
    client.on('connect', () => {
      if (everConnected) sink.stats.extra.reconnects++;
      everConnected = true;
      sink.stats.extra.connected = 1;
    });
    client.on('close', () => {
      sink.stats.extra.connected = 0;
      // The held acknowledgement belonged to the lost connection; the broker will redeliver it.
      if (held) {
        if (held.messageId !== undefined) unacked.add(held.messageId);
        held = undefined;
        sink.stats.extra.ackHeld = 0;
      }
      if (reconnect === false && !sink.signal.aborted) sink.error(new RxDataError('connection to the broker lost', origin));
    });
    client.on('error', (error) => {
      if (reconnect === false) sink.error(fail('client failed', error));
    });
    client.subscribe(topics, { qos }, (error, granted) => {
      const refused = granted?.find((g) => g.qos === 128);
      if (error) sink.error(fail('subscribe failed', error));
      else if (refused) sink.error(new RxDataError(`the broker refused the subscription to '${refused.topic}'`, origin));
    });
    return () => {
      held = undefined;
      client.end(true);
    };
  }, { highWaterMark: options.highWaterMark, overflow, name: options.name ?? 'fromMqtt' });
}
