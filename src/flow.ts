/**
 * Flow control: how a slow consumer slows the source down. This file is the map; each piece
 * lives in `src/flow/`, one job per module, listed here in reading order.
 *
 * RxJS pushes; nothing in it slows a producer. rxdata adds *demand* beside the push:
 *
 *   source ──▶ map ──▶ parallelMap ──▶ batch ──▶ prefetch ──▶ consume
 *     ▲                    │ gate ▲                  │ gate ▲        │ gate
 *     └── pulls while ─────┘      └── emits while ───┘      └─ emits while
 *         parallelMap's gate          prefetch's gate          consume's gate
 *         is open                     is open                  is open
 *
 * 1. `flow/gate.ts` — a {@link Gate} is "the stage below takes more"; a gated stage owns a
 *    {@link Valve} and closes it while its buffer is full.
 * 2. `flow/trampoline.ts` — {@link trampoline}: resumptions run one after another, never nested,
 *    so a chain of synchronous hand-offs never grows the stack (one per process; it says why).
 * 3. `flow/demand.ts` — {@link Demand}: the gates a producer respects; `whenReady` resumes it.
 * 4. `flow/scope.ts` — how a producer finds its demand: gated stages subscribe upstream inside a
 *    scope (`AsyncLocalStorage`); a producer reads it when subscribed ({@link scoped},
 *    {@link currentScope}) and resumes inside it ({@link runInScope}). Ordinary RxJS operators in
 *    between (`map`, `filter`, `take`, `bufferCount`) subscribe in the scope they were given. A
 *    producer hands elements, completion and errors on inside the scope it captured, whatever
 *    callback it runs in, so a `repeat` or `mergeMap` below subscribes in the right one.
 * 5. `flow/subscribe.ts` — {@link subscribeTied} (upstream stops the moment downstream does) and
 *    {@link subscribeBehind} (upstream sees the stage's own gate as its demand).
 * 6. `flow/produce.ts` — {@link produce}/{@link produceComplete}: every emission of ours is counted
 *    for the guard (`guard.ts`), which names an operator that buffers without obeying demand.
 * 7. `flow/outbox.ts` — {@link Outbox}: the buffer a gated stage emits from, only under demand and
 *    within the event loop's slice (`turn.ts`).
 * 8. `flow/pump.ts` — {@link pumpLoop}: the re-entrancy-proof loop of multi-input stages.
 * 9. `flow/overshoot.ts` — {@link MAX_OVERSHOOT}: what a stage keeps for a producer that ignores
 *    demand before it fails.
 *
 * The full contract, with the in-flight bound, is in docs/ARCHITECTURE.md; writing a source or a
 * gated operator with these pieces is in docs/kit.md (they are public as `rxdata/kit`).
 */
export { Valve, type Gate } from './flow/gate.js';
export { trampoline } from './flow/trampoline.js';
export { Demand } from './flow/demand.js';
export { currentScope, runInScope, scoped, type FlowScope } from './flow/scope.js';
export { subscribeBehind, subscribeTied } from './flow/subscribe.js';
export { produce, produceComplete } from './flow/produce.js';
export { Outbox } from './flow/outbox.js';
export { pumpLoop } from './flow/pump.js';
export { MAX_OVERSHOOT, overshootError } from './flow/overshoot.js';
