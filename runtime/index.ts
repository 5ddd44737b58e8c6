// The sidecar runtime. For now: the decision engine that evaluates a bundle.
export { Engine, adaptiveShares } from "./engine/engine.ts";
export type { Decision, DecisionTrace, DecideOptions, EngineOptions, Blocked, PluginOutcome, RouteEvaluation, Feedback } from "./engine/engine.ts";
export { requestFromChat, requestFromSignals, textOf } from "./engine/request.ts";
export type { Request, ChatMessage, ContentPart } from "./engine/request.ts";
export type { SignalValue, OutputValue } from "./engine/signals.ts";
export { findPii, jailbreakScore, countTokens, detectLanguage, complexityScore, reaskCount, feedbackLabel, loadTextModels } from "./engine/detectors.ts";
export type { PiiMatch, PiiType, LanguageGuess } from "./engine/detectors.ts";
