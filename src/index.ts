/**
 * rxdata: deep-learning input pipelines out of RxJS Observables, with backpressure.
 * The root entry: what pipelines are built from (sources, operators, sinks, errors, types,
 * statistics, cardinality, interop, training). Connectors with heavy dependencies live at
 * `rxdata/kafka`, `rxdata/bigquery` and `rxdata/sockets`; the flow-control machinery for writing
 * a source or a gated operator of your own at `rxdata/kit` (docs/kit.md). What this entry exports
 * is pinned by test/exports.test.ts, so that it grows only on purpose.
 */
export * from './errors.js';
export * from './types.js';
export { PipelineStats, StageStats, type StageSnapshot, type StageKind } from './stats.js';
export { configureFlowGuard, flowGuardMode, FlowError, type GuardMode } from './guard.js';
export { AbortError } from './abort.js';
export { autotuneSummary, autotuneHtml, formatSummary as formatAutotune, type AutotuneOptions, type AutotuneSummary, type TunedStage, type Decision as AutotuneDecision } from './autotune/index.js';
export { fromIterable, type IterableInput, type FromIterableOptions } from './fromIterable.js';
export { pushSource, type PushSink, type PushSourceOptions, type OverflowPolicy } from './pushSource.js';
export { stack, padStack, unstack, batchSize, type PaddedShapes } from './stack.js';
export { raggedStack, type PadValues, type PadOptions, type StackOptions } from './stack.js';
export { mulberry32, mixSeed } from './random.js';

export { prefetch } from '../operators/prefetch.js';
export { consume, type ConsumeOptions } from '../operators/consume.js';
export { parallelMap, type ParallelMapOptions } from '../operators/parallelMap.js';
export { shuffle, type ShuffleOptions } from '../operators/shuffle.js';
export { batch, type BatchOptions } from '../operators/batch.js';
export { paddedBatch, type PaddedBatchOptions } from '../operators/paddedBatch.js';
export { unbatch } from '../operators/unbatch.js';
export { window, type WindowOptions } from '../operators/window.js';
export { raggedBatch, type RaggedBatchOptions } from '../operators/raggedBatch.js';
export { bucketBySequenceLength, type BucketOptions } from '../operators/bucketBySequenceLength.js';
export { groupByWindow, type GroupByWindowOptions, type GroupKey } from '../operators/groupByWindow.js';
export { cache, estimateBytes, type CacheOptions, type CacheOperator } from '../operators/cache.js';
export { shard } from '../operators/shard.js';
export { lossy } from '../operators/lossy.js';

export * from './train/index.js';
export * from '../connectors/files/index.js';
export { slidingWindow, type SlidingWindowOptions, type Sequence } from '../operators/slidingWindow.js';
export { workerPool, workerMap, ownedBuffers, type WorkerPool, type WorkerPoolOptions, type WorkerMapOptions, type RunTaskOptions, type Transferable } from './workerPool.js';
export { range } from './range.js';
export { cardinality, cardinalitySync, cardinalityWithin, assertCardinality, type Cardinality, type CardinalityInput } from './cardinality.js';
export { flatMap, type FlatMapOptions, type FlatMapInner } from '../operators/flatMap.js';
export { chooseFromDatasets, type ChooseFromDatasetsOptions } from '../operators/chooseFromDatasets.js';
export { sampleFromDatasets, type SampleFromDatasetsOptions } from '../operators/sampleFromDatasets.js';
export { rejectionResample, type RejectionResampleOptions } from '../operators/rejectionResample.js';
export { toAsyncIterable, type ToAsyncIterableOptions } from './interop/asyncIterable.js';
export { toDataset, fromDataset, type ToDatasetOptions, type FromDatasetOptions, type ObservableDataset } from './interop/dataset.js';
export { toReadable, fromReadable, type ToReadableOptions, type FromReadableOptions } from './interop/streams.js';
export { zipDatasets, type ZipDatasetsOptions, type ZipInput, type Zipped } from '../operators/zipDatasets.js';
export { fromWorkers, autoWorkers, type FromWorkersOptions } from './workers/fromWorkers.js';
export { definePipelineHead, type PipelineHead, type WorkerShard } from './workers/head.js';
export { workerIndexOf } from './workers/protocol.js';
export { prepareTransfer, type Prepared as PreparedTransfer } from './workers/transfer.js';
export { availableCores } from './workers/cores.js';
export type { NumbersAs } from '../operators/batch.js';
export * from './state/index.js';
