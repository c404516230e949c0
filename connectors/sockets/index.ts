// The sockets connector, exported as rxdata/sockets: live sensor streams over TCP, UDP, WebSocket and MQTT.
export { fromTcp, listenTcp, DEFAULT_IDLE_TIMEOUT_MS, type FromTcpOptions, type ListenTcpOptions, type TcpFramingOptions, type PeerRecord } from './tcp.js';
export { fromUdp, type FromUdpOptions } from './udp.js';
export { fromWebSocket, type FromWebSocketOptions } from './websocket.js';
export { fromMqtt, type FromMqttOptions, type TopicRecord } from './mqtt.js';
export { json, utf8, raw, lengthPrefixed, DEFAULT_MAX_FRAME_BYTES, TruncatedFrameError, type Decoder, type Framing } from './framing.js';
export type { Reconnect, ReconnectOptions, RecordErrorOptions } from './common.js';
export { slidingWindow, type SlidingWindowOptions, type Sequence } from '../../operators/slidingWindow.js';
