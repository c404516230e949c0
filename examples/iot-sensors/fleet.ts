/**
 * A simulated sensor fleet: replays the UCI occupancy readings at a chosen rate, some sensors
 * over MQTT (an aedes broker started in-process) and some through a TCP gateway.
 */
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** One row of `datatraining.csv`. */
export interface Reading {
  readonly sensor: string;
  readonly date: string;
  readonly temperature: number;
  readonly humidity: number;
  readonly light: number;
  readonly co2: number;
  readonly humidityRatio: number;
  readonly occupancy: number;
}

/** Reads the CSV: a header, then rows that start with a quoted row number. */
export function readOccupancy(path: string): Omit<Reading, 'sensor'>[] {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/).slice(1).filter((l) => l.trim() !== '');
  return lines.map((line) => {
    const cells = line.split(',').map((c) => c.replace(/^"|"$/g, ''));
    // cells: row number, date, Temperature, Humidity, Light, CO2, HumidityRatio, Occupancy
    return {
      date: cells[1],
      temperature: Number(cells[2]),
      humidity: Number(cells[3]),
      light: Number(cells[4]),
      co2: Number(cells[5]),
      humidityRatio: Number(cells[6]),
      occupancy: Number(cells[7]),
    };
  });
}

export interface FleetOptions {
  rows: readonly Omit<Reading, 'sensor'>[];
  /** Sensors publishing over MQTT, and sensors streaming through the TCP gateway. */
  mqttSensors: number;
  tcpSensors: number;
  /** Readings per second per sensor. */
  rate: number;
}

export interface Fleet {
  readonly mqttUrl: string;
  readonly tcpPort: number;
  /** Readings sent, and ticks a TCP sensor skipped because its socket pushed back. */
  readonly counters: { sent: number; stalled: number };
  close(): Promise<void>;
}

/** Starts the broker, the gateway and the sensors; each sensor replays the rows from its own offset. */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const { rows, rate } = options;
  const counters = { sent: 0, stalled: 0 };
  const broker = await Aedes.createBroker();
  const mqttServer = net.createServer(broker.handle);
  await new Promise<void>((resolve) => mqttServer.listen(0, '127.0.0.1', resolve));
  const mqttUrl = `mqtt://127.0.0.1:${(mqttServer.address() as net.AddressInfo).port}`;

  const timers: NodeJS.Timeout[] = [];
  const tickMs = Math.max(10, 1000 / rate);
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const offsetOf = (i: number, n: number): number => Math.floor((rows.length * i) / n);
  const total = options.mqttSensors + options.tcpSensors;

  /** A replay cursor for sensor `i`: the next `perTick` rows, looping. */
  const cursor = (i: number) => {
    let at = offsetOf(i, total);
    return (): Omit<Reading, 'sensor'>[] => {
      const out: Omit<Reading, 'sensor'>[] = [];
      for (let k = 0; k < perTick; k++) out.push(rows[at++ % rows.length]);
      return out;
    };
  };

  const publishers: MqttClient[] = [];
  for (let i = 0; i < options.mqttSensors; i++) {
    const client = mqtt.connect(mqttUrl, { clientId: `sensor-${i}` });
    publishers.push(client);
    const next = cursor(i);
    timers.push(
      setInterval(() => {
        if (!client.connected) return;
        for (const row of next()) {
          client.publish(`sensors/room-${i}`, JSON.stringify(row), { qos: 1 });
          counters.sent++;
        }
      }, tickMs),
    );
  }

  // The gateway streams its sensors' readings as JSON lines to whoever connects.
  const gatewaySockets = new Set<net.Socket>();
  const gateway = net.createServer((socket) => {
    gatewaySockets.add(socket);
    socket.on('error', () => {});
    const cursors = Array.from({ length: options.tcpSensors }, (_, k) => cursor(options.mqttSensors + k));
    let waiting = false;
    const timer = setInterval(() => {
      // A real device with a small buffer: when the socket pushes back, it skips this tick.
      if (waiting) {
        counters.stalled++;
        return;
      }
      cursors.forEach((next, k) => {
        for (const row of next()) {
          counters.sent++;
          if (!socket.write(JSON.stringify({ sensor: `gateway-${k}`, ...row }) + '\n')) waiting = true;
        }
      });
      if (waiting) socket.once('drain', () => (waiting = false));
    }, tickMs);
    timers.push(timer);
    socket.on('close', () => {
      clearInterval(timer);
      gatewaySockets.delete(socket);
    });
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));

  return {
    mqttUrl,
    tcpPort: (gateway.address() as net.AddressInfo).port,
    counters,
    async close() {
      for (const t of timers) clearInterval(t);
      await Promise.all(publishers.map((p) => p.endAsync(true)));
      for (const s of gatewaySockets) s.destroy();
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => mqttServer.close(() => resolve()));
    },
  };
}
