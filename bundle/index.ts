// The contract between compiler, controller and sidecar: bundle types, the
// type catalog, the JSON Schema and its validator, canonical JSON and signing.
export { BUNDLE_FORMAT, BUNDLE_SCHEMA_ID } from "./types.ts";
export type {
  Bundle, Manifest, SourceDigest, LoweredPolicy, ProfileSpec, SignalSpec, ModelSpec, PluginSpec, RouteSpec, Condition, CmpOp,
  Selection, Action, PluginUse, Verification, CheckRecord, Signature, JsonValue, JsonObject, AdaptationMode,
} from "./types.ts";
export {
  SIGNAL_TYPES, PLUGIN_TYPES, MODEL_SCHEMA, SELECT_SCHEMAS, OBJECTIVE_METRICS, PII_TYPES, PII_DETECTION_ORDER, MODALITIES, PROVIDERS,
  MAX_SCORE_TERMS, MAX_SCORE_BANDS, MAX_SCORE_WEIGHT, scoreValue, inBand, MAX_PARTITION_MEMBERS, partitionWinner, memberConfidence,
  MODEL_PARAMS_SCHEMA, PROFILE_SCHEMA, ambiguousPath, EFFORTS, MAX_TOKENS_CAP, RESPONSE_FORMATS, CONVERSATION_BOUNDS, conversationMatches,
} from "./catalog.ts";
export type { JsonSchema, Output, SignalTypeInfo, PluginTypeInfo, ScoreTerm, ScoreConfig, ModelParams } from "./catalog.ts";
export { BUNDLE_SCHEMA } from "./schema.ts";
export { routeActions, profileDefaultRoute } from "./actions.ts";
export { validateBundle } from "./validate.ts";
export type { SchemaError } from "./validate.ts";
export { canonicalJson, sha256Hex } from "./canonical.ts";
export { sidecarOwnedHeader } from "./headers.ts";
export { generateKeyPair, signBundle, verifyBundleSignature, keyIdOf, signingPayload } from "./sign.ts";
export type { KeyPairPem, VerifyResult } from "./sign.ts";
export { serializeBundle, readBundle, computeRevision, describeBundleReadError } from "./bundle-file.ts";
export type { BundleReadError } from "./bundle-file.ts";
export {
  TOKEN_AUDIENCE, SIDECAR_HEADER, NACK_HEADER, MAX_WAIT_SECONDS, MAX_NACK_REASON,
  bundlePath, parseBundlePath, bundleEtag, nackHeader, parseNackHeader, preferredWait,
  HEALTH_HEADER, emptyHealth, addHealth, healthHeader, parseHealthHeader, SHARES_HEADER, MAX_SHARES_HEADER, sharesHeader, parseSharesHeader,
} from "./distribution.ts";
export type { DistributionError, RevisionHealth } from "./distribution.ts";
export { sharesProblem, withinBounds, adaptiveRoutesOf, contextCell, contextCells, MAX_CONTEXT_SIGNALS, overlayShapeProblem, overlayProblem, priorShares, routeShares, SHARE_TOLERANCE } from "./adaptation.ts";
export type { AdaptiveBounds, SharesOverlay } from "./adaptation.ts";
export {
  ROUTING_EVENT_SCHEMA_VERSION, FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA, FEEDBACK_EVENT_SCHEMA, checkRoutingEvent, checkFeedbackEvent, qualityOf, REQUEST_ID_PATTERN,
} from "./telemetry.ts";
export type { RoutingEvent, FeedbackEvent, TelemetryEvent, EventCheck } from "./telemetry.ts";
