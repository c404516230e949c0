/**
 * Property-based fuzzing of the socket framings (fast-check, fixed seed and budget): hostile
 * byte streams cut at random chunk boundaries must give the same frames and errors as the stream
 * in one piece, every error names the peer, framing always terminates, and what a framer holds
 * never passes `maxFrameBytes` (plus a 4-byte header). `FUZZ_RUNS=20000 npx ava test/sockets-fuzz.test.ts`
 * runs longer; a failure prints the seed and the shrunk counterexample to replay.
 */
import test from 'ava';
import fc from 'fast-check';
import { holds } from './helpers.js';
import net from 'node:net';
import { firstValueFrom, take, toArray } from 'rxjs';
import { LimitError, RxDataError } from '../src/index.js';
import { lengthPrefixed, listenTcp, type Framing } from '../connectors/sockets/index.js';
import { TruncatedFrameError, createFramer } from '../connectors/sockets/framing.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? 20261130);
const ORIGIN = 'tcp 10.0.0.7:5555';

type Outcome = string;
/** Frames and errors as comparable tokens: frames by content, errors by kind. */
function frameAll(framing: Framing, max: number, chunks: readonly Uint8Array[]): Outcome[] {
  const framer = createFramer(framing, max, ORIGIN);
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out: Outcome[] = [];
  const takeAll = (): void => {
    // Each call consumes input or ends: more calls than bytes (+ slack) would be a hang.
    for (let guard = 0; ; guard++) {
      if (guard > total + 16) throw new Error('framer does not terminate');
      const f = framer.next();
      if (f === undefined) break;
      if (Buffer.isBuffer(f)) out.push(`F:${f.toString('hex')}`);
      else {
        if (!(f instanceof RxDataError) || f.origin !== ORIGIN) throw new Error(`error without the peer: ${String(f)}`);
        out.push(f instanceof TruncatedFrameError ? 'T' : f instanceof LimitError ? 'L' : `E:${f.name}`);
      }
    }
    // Drained: what is held is at most one partial frame, never more than the limit allows.
    if (framer.held > max + 4) throw new Error(`holds ${framer.held} bytes with maxFrameBytes ${max}`);
  };
  for (const c of chunks) {
    framer.push(Buffer.from(c));
    takeAll();
  }
  framer.end();
  takeAll();
  return out;
}

/** Cuts `bytes` into chunks of the given sizes (cycled). */
function cut(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes.length ? sizes[i % sizes.length] : bytes.length;
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

const concat = (parts: readonly Uint8Array[]): Uint8Array => Buffer.concat(parts.map((p) => Buffer.from(p)));
const text = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** Line streams: JSON-ish lines, blank lines, CRLF, lines around the limit, raw garbage. */
const lineStream = (max: number): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        fc.string({ maxLength: 20 }).map((s) => text(`${s}\n`)),
        fc.jsonValue({ maxDepth: 2 }).map((v) => text(`${JSON.stringify(v)}\n`)),
        fc.constantFrom(text('\n'), text('\r\n'), text('\r'), text('\n\n')),
        fc.integer({ min: Math.max(0, max - 2), max: max + 3 }).chain((n) => fc.constantFrom(text(`${'a'.repeat(n)}\n`), text(`${'a'.repeat(n)}\r\n`), text('a'.repeat(n)))),
        fc.uint8Array({ maxLength: 40 }),
      ),
      { maxLength: 30 },
    )
    .map(concat);

/** Length-prefixed streams: good frames, headers over the limit, torn frames, raw garbage. */
const lengthStream = (max: number): fc.Arbitrary<Uint8Array> =>
  fc
    .array(
      fc.oneof(
        { weight: 4, arbitrary: fc.uint8Array({ maxLength: max }).map((b) => lengthPrefixed(b)) },
        { weight: 1, arbitrary: fc.integer({ min: max + 1, max: 0xffffffff }).map((n) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: max }).chain((b) => fc.integer({ min: 0, max: b.length + 3 }).map((k) => lengthPrefixed(b).subarray(0, k))) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 12 }) },
      ),
      { maxLength: 20 },
    )
    .map(concat);

for (const framing of ['lines', 'length-prefixed'] as const) {
  test(`${framing}: random chunk boundaries give the same frames and errors as one piece`, (t) => {
    holds(t, fc.check(
      fc.property(
        fc.integer({ min: 1, max: 48 }).chain((max) =>
          fc.record({ max: fc.constant(max), bytes: framing === 'lines' ? lineStream(max) : lengthStream(max), sizes: fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 12 }) }),
        ),
        ({ max, bytes, sizes }) => {
          const whole = frameAll(framing, max, [bytes]);
          const split = frameAll(framing, max, cut(bytes, sizes));
          const bytewise = frameAll(framing, max, cut(bytes, [1]));
          if (JSON.stringify(split) !== JSON.stringify(whole)) throw new Error(`split ${JSON.stringify(split)} != whole ${JSON.stringify(whole)}`);
          if (JSON.stringify(bytewise) !== JSON.stringify(whole)) throw new Error(`byte by byte ${JSON.stringify(bytewise)} != whole ${JSON.stringify(whole)}`);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    ), RUNS);
  });

  test(`${framing}: mutated valid streams (flipped, dropped, inserted bytes) never hang or over-allocate`, (t) => {
    const valid = (max: number): fc.Arbitrary<Uint8Array> =>
      fc
        .array(fc.uint8Array({ maxLength: max }).map((b) => (framing === 'lines' ? text(`${Buffer.from(b).toString('hex').slice(0, max)}\n`) : lengthPrefixed(b))), { minLength: 1, maxLength: 10 })
        .map(concat);
    const mutation = fc.record({ at: fc.nat(), kind: fc.constantFrom('flip', 'drop', 'insert'), byte: fc.integer({ min: 0, max: 255 }) });
    holds(t, fc.check(
      fc.property(fc.integer({ min: 1, max: 48 }), fc.integer({ min: 1, max: 48 }).chain(valid), fc.array(mutation, { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 32 }), { maxLength: 8 }), (max, original, mutations, sizes) => {
        let bytes = Buffer.from(original);
        for (const m of mutations) {
          const at = m.at % Math.max(1, bytes.length);
          if (m.kind === 'flip' && bytes.length) bytes[at] ^= m.byte || 1;
          else if (m.kind === 'drop') bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)]);
          else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(at)]);
        }
        const whole = frameAll(framing, max, [bytes]);
        const split = frameAll(framing, max, cut(bytes, sizes));
        if (JSON.stringify(split) !== JSON.stringify(whole)) throw new Error(`split ${JSON.stringify(split)} != whole ${JSON.stringify(whole)}`);
      }),
      { seed: SEED + 1, numRuns: RUNS },
    ), RUNS);
  });
}

test('end to end: lines written to listenTcp in random pieces arrive whole and in order', async (t) => {
  const runs = Math.max(5, Math.round(RUNS / 150));
  holds(t, await fc.check(
    fc.asyncProperty(fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 25 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), async (values, sizes) => {
      const bytes = text(values.map((v) => `${JSON.stringify(v)}\n`).join(''));
      let resolvePort!: (port: number) => void;
      const portP = new Promise<number>((resolve) => (resolvePort = resolve));
      const received = firstValueFrom(listenTcp({ onListening: (a) => resolvePort(a.port) }).pipe(take(values.length), toArray()));
      const socket = net.connect(await portP, '127.0.0.1');
      socket.setNoDelay(true);
      for (const chunk of cut(bytes, sizes)) {
        socket.write(chunk);
        // A turn of the event loop between pieces, so they arrive as separate reads more often.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const got = (await received).map((r) => r.value);
      socket.destroy();
      // JSON round trip: -0 becomes 0, as any JSON peer would send it.
      if (JSON.stringify(got) !== JSON.stringify(values.map((v) => JSON.parse(JSON.stringify(v)) as unknown))) throw new Error(`got ${JSON.stringify(got)}`);
    }),
    { seed: SEED + 2, numRuns: runs },
  ), runs);
});
