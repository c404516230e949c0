// The training sink (trainOn, fit, backends, checkpoints, progress, report): filled in by issue 3.
export {};
