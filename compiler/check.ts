// Stage "check": validate every definition's fields, type conditions, check
// actions, order routes, and lower it all to the bundle's vocabulary.
import { validateHeaderName, validateHeaderValue } from "node:http";
import { RE2JS } from "re2js";
import type {
  ApplyStmt, ObjectValue, RouteDecl, RouteStmt, SelectStmt, Span, TestDecl, UseStmt, Value, WhenStmt,
} from "../grammar/index.ts";
import {
  OBJECTIVE_METRICS, PLUGIN_TYPES, ambiguousPath, SELECT_SCHEMAS, SIGNAL_TYPES, sidecarOwnedHeader,
  type Action, type Condition, type JsonObject, type ModelSpec, type PluginSpec, type PluginUse,
  type RouteSpec, type Selection, type ModelParams, type ProfileSpec,
} from "../bundle/index.ts";
import { didYouMean, didYouMeanOr, type DiagnosticBag } from "./diagnostics.ts";
import { checkFields, valueToJson } from "./fields.ts";
import { lowerCondition, type CheckedSignal, type ConditionEnv } from "./conditions.ts";
import { checkScores, lowerLinear, lowerScoreValue, type ScoreSources } from "./scores.ts";
import { checkPartitions, notePartitionSources, type PartitionSources } from "./partitions.ts";
import { lowerRequire, type DecisionPredicate } from "./guarantees.ts";
import type { ResolvedProgram } from "./resolve.ts";

export interface Origin {
  file: string;
  span: Span;
}

export interface CheckedGuarantee extends Origin {
  name: string;
  when: Condition;
  require: DecisionPredicate;
}

/** A relation between signals the analysis takes as given: `when` implies `require`. */
export interface CheckedAssumption extends Origin {
  name: string;
  when: Condition;
  require: Condition;
}

/** A test's request, in the engine's request vocabulary. */
export interface TestRequest {
  messages: { role: string; content: string }[];
  headers: Record<string, string>;
  metadata: JsonObject;
  /** Values for signals that need a model server (embedding, domain) or to pin any other. */
  signals: JsonObject;
  /** The requested model name and the path prefix: which profile decides (docs/language.md, Profiles). */
  model?: string;
  path?: string;
}

export interface TestExpectation {
  route?: string;
  model?: string;
  plugins?: string[];
  blocked?: boolean;
}

export interface CheckedTest extends Origin {
  name: string;
  request: TestRequest;
  expect: TestExpectation;
}

/** Pipeline stage 3: a type-checked policy in the bundle's vocabulary, with source positions kept. */
export interface CheckedPolicy {
  package: string;
  roots: string[];
  sources: { path: string; text: string }[];
  signals: CheckedSignal[];
  models: ModelSpec[];
  plugins: PluginSpec[];
  routes: RouteSpec[];
  default: Action | null;
  /** Request-facing profiles, each with its default; their routes carry `profile`. */
  profiles: ProfileSpec[];
  /** Set on the projection the analysis runs for one profile ("" for the policy's own routes): what `profile == x` in a guarantee tests. */
  profileScope?: string;
  guarantees: CheckedGuarantee[];
  assumptions: CheckedAssumption[];
  tests: CheckedTest[];
  /** Explicit `before` tie-breaks, [winner, loser], between routes of equal priority. */
  tieBreaks: [string, string][];
  origins: {
    routes: Map<string, Origin>;
    models: Map<string, Origin>;
    plugins: Map<string, Origin>;
    signals: Map<string, Origin>;
    default: Origin | null;
    /** Each profile's default, by profile name. */
    profileDefaults: Map<string, Origin>;
    /** Each profile's declaration. */
    profiles: Map<string, Origin>;
  };
}

export function checkProgram(program: ResolvedProgram, diags: DiagnosticBag): CheckedPolicy {
  const quiet = new Set(program.broken);

  // ---- signals
  const signals = new Map<string, CheckedSignal>();
  const scoreSources: ScoreSources = new Map();
  const partitionSources: PartitionSources = new Map();
  for (const [name, { decl, file }] of program.signals) {
    const info = SIGNAL_TYPES[decl.type.name];
    if (!info) {
      quiet.add(name);
      continue;
    }
    let inject: JsonObject | undefined;
    if (decl.type.name === "score") {
      const lowered = lowerScoreValue(decl.body, name, decl.name.span, file, diags, scoreSources);
      if (!lowered) {
        quiet.add(name);
        continue;
      }
      inject = { terms: lowered.terms.map((t) => ({ ...t })), constant: lowered.constant };
    }
    const config = checkFields(decl.body, `signal.${decl.type.name}`, `${decl.type.name} signal \`${name}\``, decl.name.span, file, diags, inject && new Set(["value"]), inject);
    if (!config) {
      quiet.add(name);
      continue;
    }
    if (decl.type.name === "regex") checkRegex(config, decl.body, file, diags);
    // Class names become outputs, keys of JSON objects: `__proto__` is not a key in JavaScript.
    const reservedClass = decl.type.name === "domain" ? (config.classes as string[] | undefined)?.find((c) => c === "__proto__" || c === "label" || c === "matched") : undefined;
    if (reservedClass !== undefined) {
      const span = decl.body.fields.find((f) => f.key.name === "classes")?.value.span ?? decl.name.span;
      diags.add("RP0208", file, span, reservedClass === "__proto__" ? "`__proto__` is reserved: it cannot name a class" : `\`${reservedClass}\` is reserved: it is the domain signal's own output, so it cannot name a class`, { help: "choose another name" });
      quiet.add(name);
      continue;
    }
    if (decl.type.name === "complexity" && !checkLevels(config, decl.body, name, file, diags)) {
      quiet.add(name);
      continue;
    }
    if (decl.type.name === "partition") notePartitionSources(decl.body, name, partitionSources);
    signals.set(name, { name, type: decl.type.name, config, span: decl.name.span, file });
  }
  checkScores(signals, scoreSources, quiet, diags);
  checkPartitions(signals, partitionSources, quiet, diags);

  // ---- models
  const models = new Map<string, ModelSpec>();
  for (const [name, { decl, file }] of program.models) {
    const c = checkFields(decl.body, "model", `model \`${name}\``, decl.name.span, file, diags);
    if (!c || !checkEndpoint(decl.body, file, diags)) {
      quiet.add(name);
      continue;
    }
    models.set(name, {
      name,
      provider: c.provider as string,
      endpoint: c.endpoint as string,
      served_name: (c.served_name as string | undefined) ?? name,
      cost: (c.cost as { input: number; output: number } | undefined) ?? null,
      context_window: (c.context_window as number | undefined) ?? null,
      tags: (c.tags as string[] | undefined) ?? [],
      latency_ms: (c.latency_ms as number | undefined) ?? null,
      quality: (c.quality as number | undefined) ?? null,
      api_key_env: (c.api_key_env as string | undefined) ?? null,
    });
  }

  // ---- plugins
  const plugins = new Map<string, PluginSpec>();
  for (const [name, { decl, file }] of program.plugins) {
    const info = PLUGIN_TYPES[decl.type.name];
    const config = info && checkFields(decl.body, `plugin.${decl.type.name}`, `${decl.type.name} plugin \`${name}\``, decl.name.span, file, diags);
    if (!config || (decl.type.name === "header_mutation" && !checkHeaders(decl.body, file, diags))) {
      quiet.add(name);
      continue;
    }
    if (decl.type.name === "tools_filter" && !checkToolsFilter(config, decl.body, name, file, diags)) {
      quiet.add(name);
      continue;
    }
    plugins.set(name, { name, type: decl.type.name, config });
  }

  const ctx: ActionContext = { models, plugins, signals, quiet, diags };

  // ---- profiles: which requests each takes (no model name or path prefix claimed twice)
  const profiles = checkProfiles(program, diags);
  const profileRef = (ref: { name: string; span: Span }, file: string): boolean => {
    if (profiles.has(ref.name) || program.profiles.has(ref.name)) return profiles.has(ref.name);
    diags.add("RP0209", file, ref.span, `undefined profile \`${ref.name}\``, didYouMeanOr(ref.name, program.profiles.keys(), ref.span, `declare it: \`profile ${ref.name} { models: ["…"] }\` (or \`path_prefix: "/${ref.name}"\`)`));
    return false;
  };

  // ---- routes
  const routes: RouteSpec[] = [];
  const routeOrigins = new Map<string, Origin>();
  for (const [name, { decl, file }] of program.routes) {
    routeOrigins.set(name, { file, span: decl.name.span });
    const env: ConditionEnv = { file, signals, quiet, diags, used: new Set() };
    const route = checkRoute(decl, file, env, ctx);
    if (decl.profile && !profileRef(decl.profile, file)) continue;
    if (route) routes.push(decl.profile ? { ...route, profile: decl.profile.name } : route);
  }
  const { ordered, tieBreaks } = orderRoutes(routes, program, diags);

  // ---- default
  let defaultAction: Action | null = null;
  if (program.default) {
    const { decl, file } = program.default;
    for (const stmt of decl.body) {
      if (stmt.kind === "when") {
        diags.add("RP0512", file, stmt.span, "the default takes every request no route matched; it has no condition", {
          help: "remove the `when`, or make this a route",
        });
      }
    }
    defaultAction = checkAction(decl.body, "the default", decl.span, file, ctx);
  }
  const profileDefaults = new Map<string, Origin>();
  for (const [name, { decl, file }] of program.profileDefaults) {
    if (!profileRef(decl.profile!, file)) continue;
    for (const stmt of decl.body) {
      if (stmt.kind === "when") diags.add("RP0512", file, stmt.span, "the default takes every request no route matched; it has no condition", { help: "remove the `when`, or make this a route" });
    }
    const action = checkAction(decl.body, `the default of profile \`${name}\``, decl.span, file, ctx);
    if (action) profiles.get(name)!.default = action;
    profileDefaults.set(name, { file, span: decl.span });
  }

  // ---- guarantees
  const guarantees: CheckedGuarantee[] = [];
  for (const { decl, file } of program.guarantees) {
    const env: ConditionEnv = { file, signals, quiet, diags, used: new Set() };
    const when: Condition | null = decl.when ? lowerCondition(decl.when, env) : { op: "true" };
    const require = lowerRequire(decl.require, env, { models, plugins, routes: routeOrigins, profiles });
    if (when && require) guarantees.push({ name: decl.name.value, when, require, file, span: decl.name.span });
  }

  // ---- assumptions: request conditions on both sides, like a route's `when`
  const assumptions: CheckedAssumption[] = [];
  for (const { decl, file } of program.assumptions) {
    const env: ConditionEnv = { file, signals, quiet, diags, used: new Set() };
    const when: Condition | null = decl.when ? lowerCondition(decl.when, env) : { op: "true" };
    const require = lowerCondition(decl.require, env);
    if (when && require) assumptions.push({ name: decl.name.value, when, require, file, span: decl.name.span });
  }

  // ---- tests
  const tests: CheckedTest[] = [];
  for (const { decl, file } of program.tests) {
    const t = checkTest(decl, file, { models, plugins, routes: routeOrigins, quiet, diags, signals, prefixes: [...profiles.values()].flatMap((p) => (p.path_prefix === null ? [] : [p.path_prefix])) });
    if (t) tests.push(t);
  }

  const originsOf = <T>(table: Map<string, { decl: { name: { span: Span } } ; file: string } & T>) =>
    new Map([...table].map(([n, { decl, file }]) => [n, { file, span: decl.name.span }]));
  return {
    package: program.package,
    roots: program.roots,
    sources: program.files.map((f) => ({ path: f.path, text: f.source })),
    signals: [...signals.values()],
    models: [...models.values()],
    plugins: [...plugins.values()],
    routes: ordered,
    default: defaultAction,
    profiles: [...profiles.values()],
    guarantees,
    assumptions,
    tests,
    tieBreaks,
    origins: {
      routes: routeOrigins,
      models: originsOf(program.models),
      plugins: originsOf(program.plugins),
      signals: originsOf(program.signals),
      default: program.default ? { file: program.default.file, span: program.default.decl.span } : null,
      profileDefaults,
      profiles: originsOf(program.profiles),
    },
  };
}

/**
 * The profiles' fields, and that no two claim one request: the same model name, or the same path
 * prefix (a longer prefix inside another's is allowed: the longest that matches wins).
 */
function checkProfiles(program: ResolvedProgram, diags: DiagnosticBag): Map<string, ProfileSpec> {
  const out = new Map<string, ProfileSpec>();
  const claimed = new Map<string, { profile: string; file: string; span: Span }>();
  for (const [name, { decl, file }] of program.profiles) {
    const c = checkFields(decl.body, "profile", `profile \`${name}\``, decl.name.span, file, diags);
    if (!c) continue;
    const spec: ProfileSpec = { name, models: (c.models as string[] | undefined) ?? [], path_prefix: (c.path_prefix as string | undefined) ?? null, default: null };
    let ok = true;
    const claim = (what: string, key: string, field: string) => {
      const span = decl.body.fields.find((f) => f.key.name === field)?.value.span ?? decl.name.span;
      const prior = claimed.get(key);
      if (prior) {
        diags.add("RP0310", file, span, `profiles \`${prior.profile}\` and \`${name}\` both claim ${what}`, {
          help: "a request must select one profile: give each model name and path prefix to one profile",
          related: [{ file: prior.file, span: prior.span, message: `claimed by \`${prior.profile}\` here` }],
        });
        ok = false;
      } else claimed.set(key, { profile: name, file, span });
    };
    for (const m of spec.models) claim(`model name "${m}"`, `model\u0000${m}`, "models");
    if (spec.path_prefix !== null) claim(`path prefix "${spec.path_prefix}"`, `path\u0000${spec.path_prefix}`, "path_prefix");
    if (ok) out.set(name, spec);
  }
  return out;
}

/** A tools filter says one thing: an allow-list of at least one tool, or none at all (not both, not an empty list). */
function checkToolsFilter(config: JsonObject, body: ObjectValue, name: string, file: string, diags: DiagnosticBag): boolean {
  const at = (key: string) => body.fields.find((f) => f.key.name === key)?.value.span ?? body.span;
  if (Array.isArray(config.allow) && config.none === true) {
    diags.add("RP0301", file, at("none"), `tools_filter \`${name}\` allows some tools and none at once`, { help: "keep `allow: [...]` to offer those tools, or `none: true` to offer none" });
    return false;
  }
  if (Array.isArray(config.allow) && config.allow.length === 0) {
    diags.add("RP0301", file, at("allow"), `tools_filter \`${name}\` allows an empty list of tools`, { help: "write `none: true` to offer no tools, or name the tools to keep" });
    return false;
  }
  return true;
}

/** A complexity signal's levels: each a band with a min or a max, not empty, not named `__proto__`. */
function checkLevels(config: JsonObject, body: ObjectValue, name: string, file: string, diags: DiagnosticBag): boolean {
  const field = body.fields.find((f) => f.key.name === "levels")?.value;
  let ok = true;
  for (const [level, range] of Object.entries((config.levels as Record<string, { min?: number; max?: number }> | undefined) ?? {})) {
    const span = (field?.kind === "object" ? field.fields.find((f) => f.key.name === level)?.span : undefined) ?? body.span;
    if (level === "__proto__") diags.add("RP0208", file, span, "`__proto__` is reserved: it cannot name a level", { help: "choose another name" });
    else if (range.min === undefined && range.max === undefined) diags.add("RP0301", file, span, `level \`${level}\` of complexity signal \`${name}\` has neither min nor max`, { help: "a level is `{ min: a }`, `{ max: b }` or `{ min: a, max: b }`: a score of at least a, below b" });
    else if (range.min !== undefined && range.max !== undefined && range.min >= range.max) diags.add("RP0301", file, span, `level \`${level}\` of complexity signal \`${name}\` is empty: min ${range.min} is not below max ${range.max}`, { help: "a level holds from its min (included) up to its max (excluded)" });
    else continue;
    ok = false;
  }
  return ok;
}

function checkRegex(config: JsonObject, body: ObjectValue, file: string, diags: DiagnosticBag): void {
  const pattern = config.pattern as string;
  const span = body.fields.find((f) => f.key.name === "pattern")?.value.span ?? body.span;
  try {
    RE2JS.compile(pattern, config.case_sensitive === false ? RE2JS.CASE_INSENSITIVE : 0);
  } catch (err) {
    diags.add("RP0304", file, span, `invalid regular expression: ${(err as Error).message}`, {
      help: "patterns use RE2 syntax, which matches in linear time: no backreferences or lookaround",
    });
  }
}

interface ActionContext {
  models: Map<string, ModelSpec>;
  /** Declared signals: an adaptive selection's `context` names some. */
  signals: Map<string, CheckedSignal>;
  plugins: Map<string, PluginSpec>;
  quiet: Set<string>;
  diags: DiagnosticBag;
}

function checkRoute(decl: RouteDecl, file: string, env: ConditionEnv, ctx: ActionContext): RouteSpec | null {
  const { diags } = ctx;
  const name = decl.name.name;
  let ok = true;
  if (!Number.isInteger(decl.priority.value) || decl.priority.value < 0 || decl.priority.value > 1_000_000) {
    diags.add("RP0508", file, decl.priority.span, `priority must be a whole number from 0 to 1000000, not ${decl.priority.value}`);
    ok = false;
  }
  const whens = decl.body.filter((s): s is WhenStmt => s.kind === "when");
  for (const extra of whens.slice(1)) {
    diags.add("RP0503", file, extra.span, `route \`${name}\` has more than one \`when\``, { help: "join the conditions with `and` or `or`" });
  }
  let when: Condition | null = null;
  if (whens.length === 0) {
    diags.add("RP0501", file, decl.name.span, `route \`${name}\` has no \`when\` condition`, {
      help: "add `when <condition>`; a catch-all belongs in `default`",
    });
    ok = false;
  } else {
    when = lowerCondition(whens[0].expr, env);
  }
  const action = checkAction(decl.body, `route \`${name}\``, decl.name.span, file, ctx);
  if (!ok || !when || !action) return null;
  return { name, priority: decl.priority.value, when, action };
}

function checkAction(body: RouteStmt[], what: string, anchor: Span, file: string, ctx: ActionContext): Action | null {
  const { diags } = ctx;
  const choosers = body.filter((s): s is UseStmt | SelectStmt => s.kind === "use" || s.kind === "select");
  const applies = body.filter((s): s is ApplyStmt => s.kind === "apply");
  if (choosers.length === 0) {
    diags.add("RP0502", file, anchor, `${what} names no model`, { help: "add `use <model>` or `select <algorithm> { models: [...] }`" });
    return null;
  }
  for (const extra of choosers.slice(1)) {
    diags.add("RP0503", file, extra.span, `${what} chooses its model more than once`, {
      help: "keep one `use` (with `fallback` for a chain) or one `select`",
    });
  }
  for (const extra of applies.slice(1)) {
    diags.add("RP0503", file, extra.span, `${what} has more than one \`apply\``, { help: "list every plugin in one `apply a, b`, in the order they run" });
  }
  const select = checkSelection(choosers[0], file, ctx);
  const plugins = applies.length ? checkApply(applies[0], file, ctx) : [];
  const params = checkParams(choosers[0], file, ctx);
  if (!select || !plugins || params === null) return null;
  return params ? { select, plugins, params } : { select, plugins };
}

/**
 * The per-use model parameters: `use a { … } fallback b { … }`, or `select … { params: { a: { … } } }`
 * (each key a model the selection lists). undefined: none given; null: an error was reported.
 */
function checkParams(stmt: UseStmt | SelectStmt, file: string, ctx: ActionContext): Record<string, ModelParams> | undefined | null {
  const out: Record<string, ModelParams> = {};
  let ok = true;
  const one = (model: string, value: ObjectValue, anchor: Span) => {
    const c = checkFields(value, "params", `the parameters of model \`${model}\``, anchor, file, ctx.diags);
    if (c && c.reasoning === false && c.effort !== undefined) {
      const span = value.fields.find((f) => f.key.name === "effort")!.value.span;
      ctx.diags.add("RP0301", file, span, `model \`${model}\` is told not to reason and how hard to reason at once`, { help: "remove `effort`, or set `reasoning: true`" });
      ok = false;
    } else if (c) out[model] = c as ModelParams;
    else ok = false;
  };
  if (stmt.kind === "use") {
    const seen = new Set<string>();
    stmt.models.forEach((m, i) => {
      const p = stmt.params[i];
      if (seen.has(m.name) && p) {
        ctx.diags.add("RP0305", file, p.span, `model \`${m.name}\` appears twice in this chain with parameters`, { help: "a model takes one set of parameters per route: give them where it first appears" });
        ok = false;
        return;
      }
      seen.add(m.name);
      if (p) one(m.name, p, m.span);
    });
  } else {
    const field = stmt.body.fields.find((f) => f.key.name === "params");
    if (!field) return undefined;
    const models = stmt.body.fields.find((f) => f.key.name === "models")?.value;
    const listed = new Set(models?.kind === "list" ? models.items.map((i) => (i.kind === "ident" ? i.name : i.kind === "string" ? i.value : "")) : []);
    // A cascade's verifier is asked too: it takes parameters (a token cap) like the models.
    const verifier = stmt.body.fields.find((f) => f.key.name === "verifier")?.value;
    if (stmt.algorithm.name === "cascade" && verifier?.kind === "ident") listed.add(verifier.name);
    if (field.value.kind !== "object") {
      ctx.diags.add("RP0301", file, field.value.span, "`params` must be a block of models and their parameters", { help: "e.g. `params: { qwen: { reasoning: false } }`" });
      return null;
    }
    for (const f of field.value.fields) {
      if (!listed.has(f.key.name)) {
        ctx.diags.add("RP0205", file, f.key.span, `\`${f.key.name}\` is not one of this selection's models, so it takes no parameters here`, didYouMeanOr(f.key.name, listed, f.key.span, "name a model from `models: [...]`"));
        ok = false;
      } else if (f.value.kind === "object") one(f.key.name, f.value, f.key.span);
      else {
        ctx.diags.add("RP0301", file, f.value.span, `the parameters of model \`${f.key.name}\` must be a block`, { help: "e.g. `{ reasoning: false, max_tokens: 1024 }`" });
        ok = false;
      }
    }
  }
  if (!ok) return null;
  return Object.keys(out).length ? out : undefined;
}

function modelRef(name: { name: string; span: Span }, file: string, ctx: ActionContext): boolean {
  if (ctx.models.has(name.name)) return true;
  if (!ctx.quiet.has(name.name)) {
    ctx.diags.add("RP0205", file, name.span, `undefined model \`${name.name}\``, didYouMeanOr(name.name, ctx.models.keys(), name.span, `declare it: \`model ${name.name} { provider: …, endpoint: "…" }\``));
  }
  return false;
}

function checkSelection(stmt: UseStmt | SelectStmt, file: string, ctx: ActionContext): Selection | null {
  if (stmt.kind === "use") {
    const ok = stmt.models.map((m) => modelRef(m, file, ctx)).every(Boolean);
    return ok ? { algorithm: "use", models: stmt.models.map((m) => m.name) } : null;
  }
  const algorithm = stmt.algorithm.name;
  const schema = SELECT_SCHEMAS[algorithm];
  if (!schema) {
    const known = Object.keys(SELECT_SCHEMAS);
    ctx.diags.add("RP0504", file, stmt.algorithm.span, `unknown selection algorithm \`${algorithm}\``, didYouMeanOr(algorithm, known, stmt.algorithm.span, `algorithms: ${known.join(", ")}`));
    return null;
  }
  let objective: Record<string, number> | undefined;
  const objField = stmt.body.fields.find((f) => f.key.name === "objective");
  if (objField) {
    objective = lowerObjective(objField.value, file, ctx.diags) ?? undefined;
    if (!objective) return null;
  }
  // `params` is checked per model by checkParams.
  const c = checkFields(stmt.body, `select.${algorithm}`, `\`select ${algorithm}\``, stmt.algorithm.span, file, ctx.diags, new Set(["objective", "params"]), objective ? { objective } : undefined);
  if (!c) return null;
  const listField = stmt.body.fields.find((f) => f.key.name === "models")?.value;
  const modelNames = c.models as string[];
  if (listField?.kind === "list") {
    const ok = listField.items.map((item) => (item.kind === "ident" ? modelRef(item, file, ctx) : true)).every(Boolean);
    if (!ok) return null;
  }
  switch (algorithm) {
    case "weighted": {
      const weights = c.weights as number[];
      if (weights.length !== modelNames.length || weights.every((w) => w === 0)) {
        const span = stmt.body.fields.find((f) => f.key.name === "weights")?.value.span ?? stmt.span;
        ctx.diags.add("RP0507", file, span, weights.length !== modelNames.length
          ? `${weights.length} weights for ${modelNames.length} models`
          : "all weights are zero", { help: "give one non-negative weight per model, at least one above zero" });
        return null;
      }
      return { algorithm, models: modelNames, weights };
    }
    case "adaptive": {
      const explore = (c.explore as number | undefined) ?? 0.05;
      const floor = (c.floor as number | undefined) ?? 0;
      if (floor * modelNames.length > 1) {
        const span = stmt.body.fields.find((f) => f.key.name === "floor")?.value.span ?? stmt.span;
        ctx.diags.add("RP0506", file, span, `a floor of ${floor} for each of ${modelNames.length} models needs ${(floor * modelNames.length * 100).toFixed(0)}% of traffic`, {
          help: `use a floor of at most ${(1 / modelNames.length).toFixed(3)}`,
        });
        return null;
      }
      const context = c.context as string[] | undefined;
      if (context) {
        const items = stmt.body.fields.find((f) => f.key.name === "context")?.value;
        let known = true;
        context.forEach((signal, i) => {
          if (ctx.signals.has(signal)) return;
          known = false;
          if (ctx.quiet.has(signal)) return;
          const span = items?.kind === "list" ? items.items[i].span : stmt.span;
          ctx.diags.add("RP0204", file, span, `undefined signal \`${signal}\``, didYouMeanOr(signal, ctx.signals.keys(), span, `a context entry is a declared signal whose truth splits the route's learning: \`signal <type> ${signal} { ... }\``));
        });
        if (!known) return null;
      }
      const o = objective ?? {};
      return {
        algorithm,
        models: modelNames,
        objective: { quality: o.quality ?? 0, cost_usd: o.cost_usd ?? 0, latency_ms: o.latency_ms ?? 0 },
        explore,
        floor,
        ...(context ? { context } : {}),
      };
    }
    case "cascade": {
      const verifier = c.verifier as string | undefined;
      if (verifier !== undefined) {
        const field = stmt.body.fields.find((f) => f.key.name === "verifier")!;
        if (!modelRef({ name: verifier, span: field.value.span }, file, ctx)) return null;
      }
      return { algorithm, models: modelNames, min_confidence: c.min_confidence as number, ...(verifier !== undefined ? { verifier } : {}) };
    }
    case "hedge":
      return { algorithm, models: modelNames, after_ms: c.after_ms as number };
    default:
      return { algorithm: algorithm as "static" | "cheapest" | "fastest", models: modelNames };
  }
}

/** `quality - 2.0 * cost_usd - 0.0005 * latency_ms` → coefficients per metric. */
function lowerObjective(value: Value, file: string, diags: DiagnosticBag): Record<string, number> | null {
  const fail = (span: Span, message: string, extra: object = {}): null => {
    diags.add("RP0505", file, span, message, { help: `an objective is a weighted sum of ${OBJECTIVE_METRICS.join(", ")}`, ...extra });
    return null;
  };
  const known = (name: string, span: Span) => (OBJECTIVE_METRICS as readonly string[]).includes(name) || fail(span, `unknown metric \`${name}\``, didYouMean(name, OBJECTIVE_METRICS, span)) !== null;
  const l = lowerLinear(value, known, fail, "an objective", "metrics");
  if (!l) return null;
  if ([...l.coef.values()].every((c) => c === 0)) return fail(value.span, "the objective does not depend on any metric, so it cannot rank models");
  return Object.fromEntries(l.coef);
}

function checkApply(stmt: ApplyStmt, file: string, ctx: ActionContext): PluginUse[] | null {
  const out: PluginUse[] = [];
  let ok = true;
  for (const item of stmt.plugins) {
    const plugin = ctx.plugins.get(item.name.name);
    if (!plugin) {
      if (!ctx.quiet.has(item.name.name)) {
        ctx.diags.add("RP0206", file, item.name.span, `undefined plugin \`${item.name.name}\``, didYouMeanOr(item.name.name, ctx.plugins.keys(), item.name.span, `declare it: \`plugin <type> ${item.name.name} { ... }\``));
      }
      ok = false;
      continue;
    }
    let config = plugin.config;
    if (item.overrides) {
      const o = checkFields(item.overrides, `override.${plugin.type}`, `the override of plugin \`${plugin.name}\``, item.name.span, file, ctx.diags);
      if (!o || (plugin.type === "header_mutation" && !checkHeaders(item.overrides, file, ctx.diags))) {
        ok = false;
        continue;
      }
      config = { ...config, ...o };
    }
    out.push({ plugin: plugin.name, type: plugin.type, config });
  }
  return ok ? out : null;
}

// ---- what a policy puts on the wire, checked as the sidecar will check it again
// (Engine.load, then upstream.ts): header names are RFC 9110 tokens, header
// values hold no CR, LF, NUL or other control character (no request
// splitting), no header the sidecar owns (framing, hop-by-hop, the model's
// key: bundle/headers.ts) is set or removed, endpoints are plain http(s) URLs.

const wireOk = (f: () => void): boolean => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};
const OWNED_HELP =
  "the sidecar frames every upstream request itself (host, content-length, transfer-encoding, connection and the other hop-by-hop headers) and sends the model's key from api_key_env or its credentials file";
const TOKEN_HELP = "header names are RFC 9110 tokens: letters, digits and !#$%&'*+-.^_`|~, no spaces, colons or line breaks";

/** The header names and values of a `header_mutation` body (a declaration or a route's override); fields are already schema-checked. */
function checkHeaders(body: ObjectValue, file: string, diags: DiagnosticBag): boolean {
  let ok = true;
  const badName = (name: string, span: Span): void => {
    diags.add("RP0307", file, span, `${JSON.stringify(name)} is not a valid HTTP header name`, { help: TOKEN_HELP });
    ok = false;
  };
  const owned = (name: string, span: Span, verb: string): boolean => {
    const why = sidecarOwnedHeader(name);
    if (why === null) return false;
    diags.add("RP0307", file, span, `a policy cannot ${verb} header ${JSON.stringify(name)}: ${why}`, { help: OWNED_HELP });
    ok = false;
    return true;
  };
  for (const field of body.fields) {
    if (field.key.name === "set" && field.value.kind === "object") {
      for (const h of field.value.fields) {
        if (!wireOk(() => validateHeaderName(h.key.name))) badName(h.key.name, h.key.span);
        else if (owned(h.key.name, h.key.span, "set")) continue;
        else if (h.value.kind === "string" && !wireOk(() => validateHeaderValue(h.key.name, (h.value as { value: string }).value))) {
          diags.add("RP0307", file, h.value.span, `the value of header \`${h.key.name}\` contains a line break or control character`, {
            help: "header values cannot contain CR, LF, NUL or other control characters: they would split the upstream request",
          });
          ok = false;
        }
      }
    } else if (field.key.name === "remove" && field.value.kind === "list") {
      for (const item of field.value.items) {
        if (item.kind !== "string") continue;
        if (!wireOk(() => validateHeaderName(item.value))) badName(item.value, item.span);
        else owned(item.value, item.span, "remove");
      }
    }
  }
  return ok;
}

/** A model's `endpoint`: an http(s) URL without whitespace, control characters or credentials. */
function checkEndpoint(body: ObjectValue, file: string, diags: DiagnosticBag): boolean {
  const field = body.fields.find((f) => f.key.name === "endpoint");
  if (!field || field.value.kind !== "string") return true;
  const endpoint = field.value.value;
  let problem: string | null = null;
  let url: URL | null = null;
  if (/[\u0000-\u0020\u007f]/.test(endpoint)) problem = "contains whitespace or a control character";
  else if (!(url = URL.parse(endpoint))) problem = "is not a valid URL";
  else if (url.protocol !== "http:" && url.protocol !== "https:") problem = "is not an http or https URL";
  else if (url.username || url.password) problem = "has credentials in it";
  if (problem === null) return true;
  diags.add("RP0307", file, field.value.span, `the endpoint ${problem}`, {
    help: problem === "has credentials in it" ? "name the environment variable that holds the key in `api_key_env`" : "write the model server's base URL, e.g. \"http://qwen.models.svc:8000/v1\"",
  });
  return false;
}

/** Sorts by priority (highest first); equal priorities by `before`, then by name. */
function orderRoutes(routes: RouteSpec[], program: ResolvedProgram, diags: DiagnosticBag): { ordered: RouteSpec[]; tieBreaks: [string, string][] } {
  const byName = new Map(routes.map((r) => [r.name, r]));
  const edges = new Map<string, Set<string>>(); // a → routes a must precede
  for (const [name, { decl, file }] of program.routes) {
    for (const other of decl.before) {
      const target = program.routes.get(other.name);
      if (!target) {
        if (!program.broken.has(other.name)) {
          diags.add("RP0207", file, other.span, `undefined route \`${other.name}\``, didYouMean(other.name, program.routes.keys(), other.span));
        }
        continue;
      }
      if (target.decl.priority.value !== decl.priority.value) {
        diags.add("RP0510", file, other.span, `\`before ${other.name}\` has no effect: \`${other.name}\` has priority ${target.decl.priority.value}, this route ${decl.priority.value}`, {
          help: "`before` only breaks ties between routes of equal priority",
        });
        continue;
      }
      if (!edges.has(name)) edges.set(name, new Set());
      edges.get(name)!.add(other.name);
    }
  }
  const groups = new Map<number, RouteSpec[]>();
  for (const r of routes) {
    if (!groups.has(r.priority)) groups.set(r.priority, []);
    groups.get(r.priority)!.push(r);
  }
  const out: RouteSpec[] = [];
  for (const priority of [...groups.keys()].sort((a, b) => b - a)) {
    const group = groups.get(priority)!.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (group.length === 1) {
      out.push(group[0]);
      continue;
    }
    // Kahn's algorithm; the name order above makes it deterministic.
    const indegree = new Map(group.map((r) => [r.name, 0]));
    for (const r of group) for (const t of edges.get(r.name) ?? []) if (indegree.has(t)) indegree.set(t, indegree.get(t)! + 1);
    const ready = group.filter((r) => indegree.get(r.name) === 0);
    const placed: RouteSpec[] = [];
    while (ready.length) {
      const r = ready.shift()!;
      placed.push(r);
      for (const t of edges.get(r.name) ?? []) {
        if (!indegree.has(t)) continue;
        indegree.set(t, indegree.get(t)! - 1);
        if (indegree.get(t) === 0) {
          ready.push(byName.get(t)!);
          ready.sort((a, b) => (a.name < b.name ? -1 : 1));
        }
      }
    }
    if (placed.length < group.length) {
      const stuck = group.filter((r) => !placed.includes(r)).map((r) => r.name);
      const first = program.routes.get(stuck[0])!;
      diags.add("RP0509", first.file, first.decl.name.span, `routes ${stuck.map((s) => `\`${s}\``).join(", ")} each claim to go before another`, {
        help: "remove one `before` so the order is well defined",
      });
      placed.push(...group.filter((r) => !placed.includes(r)));
    }
    out.push(...placed);
  }
  const tieBreaks = [...edges].flatMap(([a, targets]) => [...targets].map((t) => [a, t] as [string, string]));
  return { ordered: out, tieBreaks };
}

interface TestContext {
  models: Map<string, ModelSpec>;
  plugins: Map<string, PluginSpec>;
  routes: Map<string, Origin>;
  signals: Map<string, CheckedSignal>;
  quiet: Set<string>;
  diags: DiagnosticBag;  /** The profiles' path prefixes: a test's `path` must start with one, as a request to the sidecar must. */
  prefixes: string[];
}

const REQUEST_FIELDS = ["user", "system", "messages", "headers", "metadata", "signals", "model", "path"];

function checkTest(decl: TestDecl, file: string, ctx: TestContext): CheckedTest | null {
  const requests = decl.body.filter((s) => s.kind === "request");
  const expects = decl.body.filter((s) => s.kind === "expect");
  if (requests.length !== 1 || expects.length === 0) {
    ctx.diags.add("RP0701", file, decl.name.span, requests.length > 1 ? "a test sends one request" : `test "${decl.name.value}" needs a \`request { ... }\` and an \`expect\``, {
      help: 'e.g. `request { user: "hello" }  expect route greeting, model small`',
    });
    return null;
  }
  const body = requests[0].body;
  const request: TestRequest = { messages: [], headers: {}, metadata: {}, signals: {} };
  let ok = true;
  const bad = (span: Span, message: string, extra: object = {}) => {
    ctx.diags.add("RP0702", file, span, message, extra);
    ok = false;
  };
  let system: string | null = null;
  let user: string | null = null;
  for (const field of body.fields) {
    const key = field.key.name;
    const json = valueToJson(field.value, file, ctx.diags);
    if (json === undefined) {
      ok = false;
      continue;
    }
    switch (key) {
      case "user":
      case "system":
        if (typeof json !== "string") bad(field.value.span, `\`${key}\` is the text of a message: a string`);
        else if (key === "user") user = json;
        else system = json;
        break;
      case "messages":
        if (!Array.isArray(json) || json.some((m) => typeof m !== "object" || m === null || Array.isArray(m) || typeof m.role !== "string" || typeof m.content !== "string")) {
          bad(field.value.span, "`messages` is a list of `{ role: \"user\", content: \"…\" }`");
        } else {
          request.messages.push(...(json as { role: string; content: string }[]));
        }
        break;
      case "headers":
        if (typeof json !== "object" || json === null || Array.isArray(json) || Object.values(json).some((v) => typeof v !== "string")) {
          bad(field.value.span, "`headers` maps header names to strings");
        } else {
          for (const [h, v] of Object.entries(json)) request.headers[h.toLowerCase()] = v as string;
        }
        break;
      case "metadata":
        if (typeof json !== "object" || json === null || Array.isArray(json)) bad(field.value.span, "`metadata` is a block of fields");
        else request.metadata = json;
        break;
      case "signals":
        if (typeof json !== "object" || json === null || Array.isArray(json)) {
          bad(field.value.span, "`signals` gives values for signals by name");
        } else {
          for (const f of (field.value as ObjectValue).fields) {
            if (!ctx.signals.has(f.key.name) && !ctx.quiet.has(f.key.name)) {
              bad(f.key.span, `undefined signal \`${f.key.name}\``, didYouMean(f.key.name, ctx.signals.keys(), f.key.span));
            }
          }
          request.signals = json;
        }
        break;
      case "model":
      case "path":
        if (typeof json !== "string" || (key === "path" && !json.startsWith("/"))) bad(field.value.span, key === "model" ? "`model` is the requested model name, a string" : "`path` is the request's path prefix, a string starting with `/`, e.g. \"/coding\"");
        else if (key === "path" && ambiguousPath(json)) bad(field.value.span, `the path ${json} has a dot segment, an encoded dot or slash, an empty segment or a backslash: the sidecar refuses it (400)`);
        else if (key === "path" && !ctx.prefixes.some((p) => json === p || json.startsWith(`${p}/`))) {
          bad(field.value.span, `no profile serves the path ${json} (the sidecar answers 404)`, ctx.prefixes.length ? didYouMean(json, ctx.prefixes, field.value.span) : { help: "declare a profile with this `path_prefix`, or leave `path` out" });
        } else request[key] = json;
        break;
      default:
        bad(field.key.span, `a test request has no field \`${key}\``, {
          ...didYouMean(key, REQUEST_FIELDS, field.key.span),
        });
    }
  }
  if (system !== null) request.messages.unshift({ role: "system", content: system });
  if (user !== null) request.messages.push({ role: "user", content: user });
  if (ok && request.messages.length === 0) bad(body.span, "the request has no message", { help: 'add `user: "…"` or `messages: [...]`' });

  const expect: TestExpectation = {};
  for (const stmt of expects) {
    if (stmt.kind !== "expect") continue;
    for (const item of stmt.items) {
      switch (item.kind) {
        case "route":
          if (item.target.name !== "default" && !ctx.routes.has(item.target.name) && !ctx.quiet.has(item.target.name)) {
            ctx.diags.add("RP0207", file, item.target.span, `undefined route \`${item.target.name}\``, didYouMean(item.target.name, ctx.routes.keys(), item.target.span));
            ok = false;
          }
          expect.route = item.target.name;
          break;
        case "model":
          if (!ctx.models.has(item.target.name) && !ctx.quiet.has(item.target.name)) {
            ctx.diags.add("RP0205", file, item.target.span, `undefined model \`${item.target.name}\``, didYouMean(item.target.name, ctx.models.keys(), item.target.span));
            ok = false;
          }
          expect.model = item.target.name;
          break;
        case "plugins": {
          const names: string[] = [];
          for (const v of item.list.items) {
            const n = v.kind === "ident" ? v.name : v.kind === "string" ? v.value : null;
            if (n === null || (!ctx.plugins.has(n) && !ctx.quiet.has(n))) {
              ctx.diags.add("RP0206", file, v.span, `undefined plugin ${n === null ? "" : `\`${n}\``}`.trim(), n === null ? {} : didYouMean(n, ctx.plugins.keys(), v.span));
              ok = false;
            } else names.push(n);
          }
          expect.plugins = names;
          break;
        }
        case "blocked":
          expect.blocked = true;
          break;
        case "allowed":
          expect.blocked = false;
          break;
      }
    }
  }
  return ok ? { name: decl.name.value, request, expect, file, span: decl.name.span } : null;
}

