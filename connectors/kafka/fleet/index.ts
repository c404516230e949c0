/**
 * Fleets: preprocessing workers on other processes and machines publishing batches to Kafka,
 * trainers in a consumer group reading them. See docs/fleet.md.
 */
export { runWorker, type RunWorkerOptions, type WorkerReport } from './runWorker.js';
export { epochOf, type FleetShard } from '../../../src/fleet/shard.js';
export { fromFleet, type FromFleetOptions, type FleetSource } from './fromFleet.js';
export { fleetEpochs, type FleetEpochsOptions, type FleetEpochEnd, type FleetRecord } from './fleetEpochs.js';
export { FLEET_HEADER, FLEET_AT_HEADER, partitionOf, type FleetTag } from './protocol.js';
export { epochTopicOf, type FleetGroupOptions } from './groupEpochs.js';
export { encodeBatch, decodeBatch, isEncodedBatch, BATCH_CODEC_VERSION, type EncodeBatchOptions, type DecodeBatchOptions } from '../../../src/fleet/codec.js';
