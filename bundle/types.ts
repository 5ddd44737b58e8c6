// The policy bundle: the one artifact the compiler writes and every sidecar
// reads. Field names inside `config` objects mirror the source language
// (snake_case); structural fields are camelCase.

export const BUNDLE_SCHEMA_ID = "https://routeplane.dev/schemas/bundle/v1.json";
export const BUNDLE_FORMAT = "routeplane.bundle/v1";

import type { ModelParams } from "./catalog.ts";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface SourceDigest {
  path: string; // relative to the compile root, '/'-separated
  sha256: string;
}

export interface Manifest {
  policy: string;
  package: string;
  /** `sha256:<hex>` over the canonical JSON of `{ policy, verification }`. */
  revision: string;
  compiler: { name: "routeplane"; version: string };
  sources: SourceDigest[];
  /**
   * The bundle's place in its policy's release order (ADR 10), set when it is
   * compiled. A sidecar activates a bundle of its policy only when
   * `(serial, rollback)` comes after the active bundle's, in that order.
   */
  serial: number;
  /**
   * A deliberate rollback: this bundle (older content, usually) takes the
   * place of the bundle with the same serial, and only that place.
   */
  rollback: boolean;
  /**
   * Whether sidecars apply learned shares of adaptive routes (docs/adaptation.md "Modes"): `on`,
   * `observe` (the adapter learns, sidecars keep the policy's priors) or `off`. The controller sets
   * it from `RoutingPolicy.spec.adaptation.mode`, so it is signed and rolled out like any change;
   * absent (a bundle from `routeplane compile`), shares the operator gives the sidecar apply.
   * Not part of the revision: the policy decides the same; only whether it learns changes.
   */
  adaptation?: AdaptationMode;
}

export type AdaptationMode = "off" | "observe" | "on";

export interface SignalSpec {
  name: string;
  type: string;
  config: JsonObject;
}

export interface ModelSpec {
  name: string;
  provider: string;
  endpoint: string;
  served_name: string;
  cost: { input: number; output: number } | null;
  context_window: number | null;
  tags: string[];
  latency_ms: number | null;
  quality: number | null;
  api_key_env: string | null;
}

export interface PluginSpec {
  name: string;
  type: string;
  config: JsonObject;
}

export type CmpOp = "==" | "!=" | ">" | ">=" | "<" | "<=";

/** A route condition, lowered: names resolved, literals typed. */
export type Condition =
  | { op: "true" }
  | { op: "false" }
  | { op: "signal"; signal: string; output?: string } // a boolean signal or a boolean output
  | { op: "not"; arg: Condition }
  | { op: "and" | "or"; args: Condition[] }
  | { op: "cmp"; signal: string; output: string; cmp: CmpOp; value: number | string }
  | { op: "in"; signal: string; output: string; values: string[] };

export type Selection =
  | { algorithm: "use"; models: string[] } // first is primary, the rest its fallback chain
  | { algorithm: "static"; models: string[] }
  | { algorithm: "weighted"; models: string[]; weights: number[] }
  | { algorithm: "cheapest"; models: string[] }
  | { algorithm: "fastest"; models: string[] }
  /** The first model whose answer's confidence reaches `min_confidence`; the last one's otherwise. `verifier` grades answers instead of log-probabilities. */
  | { algorithm: "cascade"; models: string[]; min_confidence: number; verifier?: string }
  /** The first answer of the models, each asked `after_ms` after the one before it (or at once when it failed). */
  | { algorithm: "hedge"; models: string[]; after_ms: number }
  | {
      algorithm: "adaptive";
      models: string[];
      objective: { quality: number; cost_usd: number; latency_ms: number };
      /** Share of traffic that may explore, and the least share each candidate keeps. */
      explore: number;
      floor: number;
      /**
       * Signals whose truth values split the route's traffic into cells that learn separately
       * (`context: [long, code]`); absent or empty: one split for the route. See contextCell.
       */
      context?: string[];
    };

export interface PluginUse {
  plugin: string;
  type: string;
  /** The plugin's fields with this route's overrides applied. */
  config: JsonObject;
}

export interface Action {
  select: Selection;
  plugins: PluginUse[];
  /** Parameters per model of `select.models` (`use qwen { reasoning: false }`); absent: none. */
  params?: Record<string, ModelParams>;
}

export interface RouteSpec {
  name: string;
  /** The profile the route belongs to; absent: the policy's own routes. */
  profile?: string;
  priority: number;
  when: Condition;
  action: Action;
}

export interface LoweredPolicy {
  signals: SignalSpec[];
  models: ModelSpec[];
  plugins: PluginSpec[];
  /** In evaluation order: the first that matches decides. */
  routes: RouteSpec[];
  /** Taken when no route matches; null means such requests are rejected. */
  default: Action | null;
  /**
   * Request-facing profiles: a request for one of a profile's model names, or under its path
   * prefix, is decided by the routes of that profile (and its default) only. Absent: none.
   */
  profiles?: ProfileSpec[];
}

export interface ProfileSpec {
  name: string;
  /** Requested model names (the body's `model`) that select the profile. */
  models: string[];
  /** A path prefix that selects it (`/coding` for `/coding/v1/chat/completions`), or null. */
  path_prefix: string | null;
  /** Its default (decided as route `<profile>.default`); null: requests no route of it takes are rejected. */
  default: Action | null;
}

export interface CheckRecord {
  name: string;
  status: "passed" | "failed" | "unchecked";
  detail?: string;
}

export interface Verification {
  checks: CheckRecord[];
  guarantees: { name: string; status: "proved" | "failed" | "unchecked"; detail?: string }[];
}

export interface Signature {
  algorithm: "ed25519";
  keyId: string;
  value: string; // base64
}

/** Pipeline stage 4: what the compiler emits and the sidecar enforces. */
export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  manifest: Manifest;
  policy: LoweredPolicy;
  verification: Verification;
  signatures: Signature[];
}
