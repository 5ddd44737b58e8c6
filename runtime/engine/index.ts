// The decision engine's entry point: a bundle compiled into closures that
// decide requests (signals → route → model → plugins → trace). What other
// parts use; tests reach inside for the detectors.
export { Engine } from "./engine.ts";
export type { Decision, DecisionTrace, DecideOptions, EngineOptions, Feedback } from "./engine.ts";
export { requestFromChat, requestFromSignals } from "./request.ts";
export type { Request, ChatMessage } from "./request.ts";
export { findPii, jailbreakScore } from "./detectors.ts";
