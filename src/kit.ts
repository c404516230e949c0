/**
 * `rxdata/kit`: the flow-control kit, for authors of connectors and operators. Pipelines are
 * built from the root entry (`rxdata`); what a new source or a new buffering stage needs to obey
 * demand like ours is here. How to use it, with a complete example: docs/kit.md.
 *
 * ```
 * a source:        scoped((subscriber, scope) => … scope.demand.ready? produce(…) : scope.demand.whenReady(resume))
 * a gated stage:   scoped((subscriber, scope) => { valve; outbox; subscribeBehind(scope, valve, source, …) })
 * ```
 *
 * Most sources need only {@link fromIterable} (pull-based) or {@link pushSource} (push-based),
 * which are also at the root; the rest is for stages that hold elements.
 */

// Sources, the easy way: everything below done for you.
export { fromIterable, type IterableInput, type FromIterableOptions } from './fromIterable.js';
export { pushSource, type PushSink, type PushSourceOptions, type OverflowPolicy } from './pushSource.js';

// Gates and demand: a stage's gate, a producer's set of gates.
export { Valve, Demand, type Gate } from './flow.js';
// The scope: how a producer finds the demand below it.
export { scoped, currentScope, runInScope, type FlowScope } from './flow.js';
// Subscribing upstream: tied to downstream, and behind a stage's own gate.
export { subscribeTied, subscribeBehind } from './flow.js';
// Emitting as a producer of ours (counted for the guard), buffering under demand, looping safely.
export { produce, produceComplete, Outbox, pumpLoop, trampoline } from './flow.js';
// Producers that ignore demand: how much a stage keeps for them before it fails.
export { MAX_OVERSHOOT, overshootError } from './flow.js';

// Fairness: the event-loop slice every producer of ours respects.
export { SLICE_MS, sliceSpent, yieldTurn, nextTurn } from './turn.js';
// The guard's threshold and the account a gate keeps (see guard.ts).
export { GUARD_THRESHOLD, type Ledger } from './guard.js';

// Per-subscription statistics, element counts, cancellation.
export { stageFor, type StageStats, type StageKind } from './stats.js';
export { declareCardinality, derivesCardinality, CARDINALITY, type CardinalityInput } from './cardinality.js';
export { withSignal, abortError } from './abort.js';
// A stage of your own that saves its position for mid-epoch resume (docs/resume.md), and one
// with an 'auto' setting the pipeline's tuner moves (docs/autotune.md).
export { registerStage, type SavedStage, type StageHooks, type StageHandle } from './state/registry.js';
// A stage of your own that cannot save its state (a live source): a checkpoint then fails naming it.
export { refuseCheckpoint } from './state/refuse.js';
export { tunerFor, type Tuner } from './autotune/index.js';
// Errors that name their origin and never carry credentials (also at the root).
export { messageOf, redactUrl, redactSecrets, safeCause, urlSecrets } from './errors.js';
