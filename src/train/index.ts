// The training sink: trainOn, fit, backends, checkpoints, progress and the HTML report.
export { trainOn, TrainStepError, type StepFn, type StepResult, type StepHook, type TrainOnOptions, type TrainOperator } from './trainOn.js';
export { fit, evaluateBatches, type FitOptions, type FitRun, type FitHistory, type FitEvent, type FitCallback, type EpochLog, type StepLog, type CheckpointOptions, type ReplayOptions } from './fit.js';
export { selectBackend, type BackendName, type BackendInfo, type SelectBackendOptions } from './backend.js';
export { fileSystemHandler, loadModel, saveCheckpoint, restoreCheckpoint, resolveCheckpoint, type CheckpointState } from './checkpoint.js';
export { Progress, formatEpochLine, type ProgressMode, type ProgressOptions, type EpochSummary } from './progress.js';
export { renderReport, writeReport, type ReportOptions } from './report.js';
export { toTensor, type NDInput, type TensorInput, type FieldSelection, type BatchSelector } from './tensors.js';
