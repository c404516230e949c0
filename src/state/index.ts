/** Pipeline state: `resumable` pipelines whose position can be saved and restored (see docs/resume.md). */
export { resumable, startOfEpoch, type ResumablePipeline, type ResumableOptions, type CheckpointOptions as PipelineCheckpointOptions, type PipelineCheckpoint } from './resumable.js';
export { CheckpointError } from './registry.js';
export { savePipelineState, loadPipelineState, encodePipelineState, decodePipelineState } from './file.js';
export { stateful, type StatefulParts } from './stateful.js';
