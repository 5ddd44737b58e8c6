// Feedback-driven adaptation (docs/adaptation.md): the learner that turns
// routing telemetry and feedback into shares of adaptive routes, inside the
// policy's bounds.
export { Learner, LEARNER_DEFAULTS } from "./learner.ts";
export type { AdaptiveRoute, CandidateEstimate, CandidatePrior, LearnerOptions, LearnerState, Objective, Observation } from "./learner.ts";
export { seededRandom, betaDraw, gammaDraw } from "./random.ts";
export { replay } from "./replay.ts";
export { qualityOf } from "../bundle/index.ts";
export type { Estimate, LoggedDecision, LoggedFeedback, ReplayResult, TargetPolicy } from "./replay.ts";
export { Adapter, ADAPTER_DEFAULTS, adaptiveRoutesFromBundle, adapterStateProblem, restoreAdapter } from "./adapter.ts";
export type { AdapterCounters, AdapterOptions, AdapterState } from "./adapter.ts";
