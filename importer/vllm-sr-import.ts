// `routeplane import vllm-sr`: a vLLM Semantic Router DSL program (and,
// optionally, its config.yaml) translated into routeplane policies. The
// parser is grammar/vllm-sr.ts; what each construct becomes is the tables in
// vllm-sr-tables.ts; this file walks the program, writes .route text, formats
// it with the compiler's formatter and compiles it (with the analysis, as
// `routeplane lint` does) so that a result that does not check is reported,
// never silently written. Every approximation and drop is a note with its
// source line, rendered into IMPORT.md (import-report.ts).
import { parseVllmSr, parseFile } from "../grammar/index.ts";
import type {
  VExpr, VField, VModelRef, VPos, VProjectionDecl, VRecipeEntry, VRouteDecl, VRouteItem, VSignalDecl, VSignalGroupDecl,
  VTopLevel, VValue, VPluginDecl, VTestDecl, VDecisionTreeDecl, VModelDecl, VBackendDecl, VEntrypointDecl, VRecipeDecl,
} from "../grammar/index.ts";
import { EFFORTS, sidecarOwnedHeader } from "../bundle/index.ts";
import { compile, formatFile, memoryHost, type Diagnostic } from "../compiler/index.ts";
import {
  ALGORITHM_TABLE, CONSTRUCT_TABLE, FEEDBACK_LABELS, PLUGIN_ALIASES, PLUGIN_TABLE, SIGNAL_TABLE, languageCode,
  type SignalRow,
} from "./vllm-sr-tables.ts";
import { readVllmSrConfig, endpointUrl, providerFor, type VllmSrConfig, type ConfigModel } from "./vllm-sr-config.ts";
import { Namespace, toName, toClass, isPlainName, type Owner } from "./names.ts";
import { BareName, commentLines, fieldLines, leaf, numberText, printExpr, quote, valueText, type RExpr } from "./route-text.ts";
import { renderImportReport } from "./import-report.ts";

export interface ImportOptions {
  /** The DSL program's text. */
  source: string;
  /** How IMPORT.md cites the program (`recipe.dsl`). */
  sourceName: string;
  /** The config.yaml's text and name, when given. */
  config?: { text: string; name: string };
  /** The package to declare (the CLI derives it from the file's name); sanitized here. */
  packageName: string;
  /**
   * Reads a file that config.yaml names, by its path relative to config.yaml's
   * directory (a knowledge base's labels.json); undefined when it cannot. The
   * importer asks only for relative paths without `..` segments. Without it,
   * `kb` signals are `metadata` stand-ins.
   */
  readFile?: (relativePath: string) => string | undefined;
}

export interface ImportNote {
  /** `recipe.dsl:42`, or the config's name, or null for something derived. */
  where: string | null;
  line: number;
  status: "approximate" | "dropped" | "renamed" | "derived";
  construct: string;
  text: string;
}

export interface ImportedFile {
  /** Relative to the output directory: `main.route`, `recipes/fast.route`. */
  path: string;
  text: string;
}

export interface PolicyCheck {
  dir: string;
  package: string;
  routes: number;
  errors: Diagnostic[];
  warnings: Diagnostic[];
}

/** A vLLM-SR RECIPE as a profile of the package, and what selects it (its ENTRYPOINTs). */
export interface ImportedProfile {
  name: string;
  /** The RECIPE's own name. */
  recipe: string;
  /** The file that holds its routes (`recipes/speed.route`). */
  file: string;
  models: string[];
  pathPrefix: string | null;
  /** True when no ENTRYPOINT selects the recipe and the path prefix is the import's. */
  derivedPath: boolean;
  routes: number;
}

export interface ImportResult {
  /** Syntax errors of the DSL or an unreadable config: nothing was translated. Each is one line naming the place. */
  errors: string[];
  files: ImportedFile[];
  notes: ImportNote[];
  checks: PolicyCheck[];
  /** The recipes, as profiles of the one package (none without RECIPE). */
  profiles: ImportedProfile[];
  /** True when every policy compiled without errors. */
  ok: boolean;
}

/** A LoRA adapter's served name as routeplane accepts it (bundle/catalog.ts, MODEL_PARAMS_SCHEMA). */
const LORA_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

/** Routeplane priorities are whole numbers in this range (RP0508). */
const MAX_PRIORITY = 1_000_000;

type Program = VRecipeEntry[];

/** A knowledge base as a routeplane knowledge signal's entries. */
interface KnowledgeBase {
  entries: Record<string, string[]>;
  /** vLLM-SR label → entry name. */
  labels: Map<string, string>;
  /** Group → entry names (labels the entries kept). */
  groups: Map<string, string[]>;
  rawGroups: Map<string, string[]>;
  /** Labels past the first MAX_KNOWLEDGE_LABELS. */
  cut: string[];
  threshold?: number;
  /** Where it came from (`knowledge_bases/privacy/labels.json`). */
  source: string;
  notes: string[];
}

/** A knowledge signal holds at most 32 labels of at most 32 texts (docs/language.md, the knowledge signal). */
const MAX_KNOWLEDGE_LABELS = 32;
const MAX_KNOWLEDGE_TEXTS = 32;

interface Shared {
  /** The knowledge base config.yaml declares under this name, read once; or why there is none. */
  knowledgeBase(name: string): KnowledgeBase | { error: string };
  sourceName: string;
  models: VModelDecl[];
  backends: VBackendDecl[];
  globalFields: VField[];
  globalPos: VPos | null;
  config: VllmSrConfig | null;
  configName: string | null;
  notes: ImportNote[];
  /** The package's models, declared once for every scope. */
  catalog: ModelCatalog;
  /** The package's namespaces: one per kind, shared by the top-level program and every recipe. */
  signals: Namespace;
  plugins: Namespace;
  routes: Namespace;
  /** The text each signal and plugin was declared with, by its routeplane name: an identical declaration of another scope is the same one. */
  signalTexts: Map<string, string>;
  pluginTexts: Map<string, string>;
  testNames: Set<string>;
}

/** How a scope reaches IMPORT.md's notes and the package's names. */
interface Scope {
  /** The RECIPE's name; "" for the top-level program. */
  recipe: string;
  /** The profile the recipe became; null for the top-level program (the policy's own routes). */
  profile: string | null;
  owner: Owner;
  /** What a test request of this scope carries to reach the profile. */
  selector: { model?: string; path?: string };
  /** Where its declarations go, for IMPORT.md (`main.route`, `recipes/speed.route`). */
  file: string;
}

/** A plain JS value from a DSL value (bare words are strings, as in the DSL). */
function plain(v: VValue): unknown {
  switch (v.kind) {
    case "string": return v.value;
    case "number": return v.value;
    case "bool": return v.value;
    case "ident": return v.name;
    case "array": return v.items.map(plain);
    case "object": return Object.fromEntries(v.fields.map((f) => [f.key, plain(f.value)]));
  }
}

function fieldMap(fields: VField[]): Map<string, VField> {
  const m = new Map<string, VField>();
  for (const f of fields) m.set(f.key, f); // the last one wins, as in the DSL
  return m;
}

const fieldValue = (fields: VField[], key: string): unknown => {
  const f = fieldMap(fields).get(key);
  return f ? plain(f.value) : undefined;
};

/** One vLLM-SR signal as the translation knows it. */
interface SignalInfo {
  decl: VSignalDecl;
  row: SignalRow | undefined;
  /** The routeplane signal's name (for domains: the shared `domains` signal). */
  rpName: string | null;
  /** The domain class, for domain signals. */
  domainClass?: string;
  negate?: boolean;
  /** The partition that holds it, as `<partition>.<member>`. */
  partition?: string;
  /** A metadata stand-in declared for it (dropped types). */
  standIn?: string;
  /** For a label of a shared knowledge signal (a preference, a KB's label or group): the condition that tests it. */
  test?: string;
  /** A domain class tested as the label (`domains == "math"`): a member of a partition of domain classes. */
  domainLabel?: boolean;
}

interface Band {
  score: string;
  band: string;
}

/** What a vLLM-SR plugin became: a routeplane plugin's name, model parameters for the route (`request_params`), or nothing. */
type PluginOut = string | { params: Record<string, unknown> } | null;

/**
 * The package's models: every scope (the top-level program and each recipe)
 * names the same models, as vLLM-SR's model catalog is shared; each is
 * declared once, in models.route.
 */
class ModelCatalog {
  private readonly models = new Namespace();
  private readonly modelNames = new Map<string, string>();
  /** In order of first use. */
  readonly used = new Set<string>();
  private readonly shared: Omit<Shared, "catalog">;

  constructor(shared: Omit<Shared, "catalog">) {
    this.shared = shared;
  }

  private note(pos: VPos | null, status: ImportNote["status"], construct: string, text: string): void {
    this.shared.notes.push({ where: pos ? `${this.shared.sourceName}:${pos.line}` : null, line: pos?.line ?? 0, status, construct, text });
  }

  /** The routeplane name of a vLLM-SR model, declaring it on first use. */
  name(original: string, pos: VPos): string {
    let name = this.modelNames.get(original);
    if (name === undefined) {
      const n = this.models.renames.length;
      name = this.models.claim(original);
      // Model names with `/`, `.` and `-` are the norm (`qwen/qwen3-8b`): only other renames are reported.
      const why = this.models.renames.splice(n)[0]?.why;
      if (why && (!/^[A-Za-z0-9_./:-]+$/.test(original) || !why.startsWith("routeplane names"))) {
        this.note(this.shared.models.find((m) => m.name === original)?.pos ?? pos, "renamed", `model \`${original}\``, `named \`${name}\`: ${why} (its served_name stays \`${original}\`)`);
      }
      this.modelNames.set(original, name);
    }
    this.used.add(original);
    return name;
  }

  block(original: string): string[] {
    const name = this.modelNames.get(original)!;
    const decl = this.shared.models.find((m) => m.name === original);
    const cfg: ConfigModel = this.shared.config?.models.get(original) ?? {};
    const fields: Record<string, unknown> = {};
    const lines: string[] = [];
    const pos = decl?.pos ?? null;
    const description = decl ? fieldValue(decl.fields, "description") : undefined;
    if (typeof description === "string") lines.push(...commentLines(description));
    let endpoint = cfg.endpoint;
    let provider = cfg.provider;
    if (!endpoint) {
      const backend = this.backendFor(original, decl);
      if (backend) {
        endpoint = backend.endpoint;
        provider = backend.provider;
      }
    }
    if (!endpoint) {
      endpoint = "http://vllm-sr-endpoint.invalid/v1";
      provider = "openai_compatible";
      this.note(pos, "derived", `model \`${original}\``, `no endpoint in the DSL${this.shared.config ? ` or ${this.shared.configName}` : " (pass --config config.yaml)"}: a placeholder endpoint (\`.invalid\` never resolves) is written; set the real one`);
    }
    fields.provider = new BareName(provider ?? "openai_compatible");
    fields.endpoint = endpoint;
    fields.served_name = cfg.servedName ?? original;
    if (cfg.cost) fields.cost = cfg.cost;
    const ctx = decl ? fieldValue(decl.fields, "context_window_size") : undefined;
    const window = typeof ctx === "number" && Number.isInteger(ctx) && ctx > 0 ? ctx : cfg.contextWindow;
    if (window) fields.context_window = window;
    const q = decl ? fieldValue(decl.fields, "quality_score") : undefined;
    if (typeof q === "number" && q >= 0 && q <= 1) fields.quality = q;
    const tagValues = decl ? [fieldValue(decl.fields, "tags"), fieldValue(decl.fields, "capabilities")].flatMap((v) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [])) : [];
    const tags = [...new Set(tagValues.map(toName))];
    if (tags.length) fields.tags = tags.map((t) => new BareName(t));
    if (tagValues.some((t) => !isPlainName(t))) this.note(pos, "renamed", `model \`${original}\` tags`, "`tags` and `capabilities` became routeplane tags: characters other than letters, digits and `_` became `_` (`tier:premium` → `tier_premium`)");
    if (cfg.apiKeyEnv) fields.api_key_env = cfg.apiKeyEnv;
    if (decl) {
      const ignored = decl.fields.map((f) => f.key).filter((k) => !["description", "context_window_size", "quality_score", "tags", "capabilities", "provider_profile"].includes(k));
      if (ignored.length) this.note(pos, "dropped", `MODEL \`${original}\``, `${[...new Set(ignored)].map((k) => `\`${k}\``).join(", ")}: no routeplane model field`);
    }
    return [...lines, `model ${name} {`, ...fieldLines(fields), "}"];
  }

  private backendFor(model: string, decl: VModelDecl | undefined): { name: string; endpoint: string; provider: string } | null {
    const eps = this.shared.backends.filter((b) => b.backendType === "vllm_endpoint");
    const profileName = decl ? fieldValue(decl.fields, "provider_profile") : undefined;
    if (typeof profileName === "string") {
      const p = this.shared.backends.find((b) => b.backendType === "provider_profile" && b.name === profileName);
      const url = p ? fieldValue(p.fields, "base_url") : undefined;
      if (p && typeof url === "string" && endpointUrl(url)) {
        const type = fieldValue(p.fields, "type");
        return { name: p.name, endpoint: endpointUrl(url)!, provider: providerFor(typeof type === "string" ? type : undefined, undefined, url) };
      }
    }
    const match = eps.find((b) => fieldValue(b.fields, "model") === model) ?? (eps.length === 1 && fieldValue(eps[0].fields, "model") === undefined ? eps[0] : undefined);
    if (!match) return null;
    const address = fieldValue(match.fields, "address");
    const port = fieldValue(match.fields, "port");
    if (typeof address !== "string") return null;
    const url = endpointUrl(typeof port === "number" ? `${address}:${port}` : address);
    if (!url) return null;
    const protocol = fieldValue(match.fields, "protocol");
    return { name: match.name, endpoint: protocol === "https" ? url.replace(/^http:/, "https:") : url, provider: "vllm" };
  }
}

/**
 * One scope of the program, the top-level program or one RECIPE, as
 * declarations of the one package: the top level's routes are the policy's
 * own, a recipe's are its profile's (`route x in speed`, `default in speed`).
 */
class PolicyTranslator {
  private readonly signals: Namespace;
  private readonly plugins: Namespace;
  private readonly routes: Namespace;
  private readonly signalInfo: SignalInfo[] = [];
  private readonly bands = new Map<string, Band>();
  private readonly standIns = new Map<string, string>();
  private readonly signalDecls: string[] = [];
  private readonly pluginDecls: string[] = [];
  private readonly routeDecls: string[] = [];
  private readonly testDecls: string[] = [];
  private defaultDecl: string | null = null;
  private readonly pluginTemplates = new Map<string, VPluginDecl>();
  private readonly routeNames = new Map<string, string>();
  private catchAllName: string | null = null;
  private domainSignal: string | null = null;
  private readonly domainClasses: string[] = [];
  private routeCount = 0;
  private readonly program: Program;
  private readonly shared: Shared;
  private readonly scope: Scope;
  /** ` in speed` for a recipe's routes and default; "" for the policy's own. */
  private readonly inProfile: string;

  constructor(program: Program, shared: Shared, scope: Scope) {
    this.program = program;
    this.shared = shared;
    this.scope = scope;
    this.signals = shared.signals;
    this.plugins = shared.plugins;
    this.routes = shared.routes;
    this.inProfile = scope.profile === null ? "" : ` in ${scope.profile}`;
  }

  private note(pos: VPos | null, status: ImportNote["status"], construct: string, text: string): void {
    this.shared.notes.push({
      where: pos ? `${this.shared.sourceName}:${pos.line}` : null,
      line: pos?.line ?? 0,
      status,
      construct: this.scope.recipe ? `${construct} (recipe \`${this.scope.recipe}\`)` : construct,
      text,
    });
  }

  private rename(pos: VPos, kind: string, ns: Namespace, before: number): void {
    for (const r of ns.renames.slice(before)) this.note(pos, "renamed", `${kind} \`${r.from}\``, `named \`${r.to}\`: ${r.why}`);
  }


  private claim(ns: Namespace, original: string, pos: VPos, kind: string): string {
    const n = ns.renames.length;
    const name = ns.claim(original, true, this.scope.owner);
    this.rename(pos, kind, ns, n);
    return name;
  }

  /**
   * Declares a signal or plugin whose text `render` gives for a name: under
   * its own name when free; when another scope declared the very same text
   * under that name, that declaration is this one too (vLLM-SR's recipes
   * each declare theirs; the package needs it once); else under a name of
   * its own (the profile's prefix). Returns the name, and the text to add
   * (null when it is shared).
   */
  private declareOnce(kind: "signal" | "plugin", original: string, pos: VPos, render: (name: string) => string): { name: string; text: string | null } {
    const ns = kind === "signal" ? this.signals : this.plugins;
    const texts = kind === "signal" ? this.shared.signalTexts : this.shared.pluginTexts;
    const base = toName(original);
    const owner = ns.ownerOf(base);
    if (owner && owner.id !== this.scope.owner.id && texts.get(base) === render(base)) {
      this.note(pos, "derived", `${kind} \`${original}\``, `the same declaration as ${owner.label}'s \`${base}\`: declared once, and both use it`);
      return { name: base, text: null };
    }
    const name = this.claim(ns, original, pos, kind);
    const text = render(name);
    texts.set(name, text);
    return { name, text };
  }

  // ---- models

  /** The routeplane name of a vLLM-SR model, declaring it (once, for the package) on first use. */
  modelName(original: string, pos: VPos): string {
    return this.shared.catalog.name(original, pos);
  }

  // ---- signals

  private collectSignals(): void {
    const decls = this.program.filter((d): d is VSignalDecl => d.kind === "signal");
    const preferences: SignalInfo[] = [];
    const kbSignals: SignalInfo[] = [];
    for (const d of decls) {
      const row = SIGNAL_TABLE[d.signalType];
      const info: SignalInfo = { decl: d, row, rpName: null };
      this.signalInfo.push(info);
      const desc = fieldValue(d.fields, "description");
      if (!row) {
        this.note(d.pos, "dropped", `SIGNAL ${d.signalType} \`${d.name}\``, `unknown signal type \`${d.signalType}\`: not translated${this.standInSaid(d)}`);
        continue;
      }
      if (row.status === "dropped") {
        this.note(d.pos, "dropped", `SIGNAL ${d.signalType} \`${d.name}\``, row.why + this.standInSaid(d));
        continue;
      }
      if (d.signalType === "domain") {
        if (this.domainSignal === null) {
          this.domainSignal = this.sharedName("domains");
          this.note(d.pos, "approximate", "SIGNAL domain", row.why);
        }
        let cls = toClass(d.name);
        for (let i = 2; this.domainClasses.includes(cls); i++) cls = `${toClass(d.name)}_${i}`;
        if (cls !== d.name) this.note(d.pos, "renamed", `domain \`${d.name}\``, `class \`${cls}\` of \`${this.domainSignal}\`: classes are names (letters, digits, \`_\`)`);
        this.domainClasses.push(cls);
        info.rpName = this.domainSignal;
        info.domainClass = cls;
        continue;
      }
      if (d.signalType === "preference") {
        preferences.push(info);
        continue;
      }
      if (d.signalType === "kb") {
        kbSignals.push(info);
        continue;
      }
      const keys = d.fields.map((f) => f.key);
      const fm = fieldMap(d.fields);
      const body = row.body!({ name: d.name, keys, field: (k) => (fm.has(k) ? plain(fm.get(k)!.value) : undefined) });
      if (body.dropped) {
        this.note(d.pos, "dropped", `SIGNAL ${d.signalType} \`${d.name}\``, `${body.dropped}${body.notes.length ? `; ${body.notes.join("; ")}` : ""}${this.standInSaid(d)}`);
        continue;
      }
      const type = body.type ?? row.routeplane;
      const render = (name: string): string => {
        const lines = typeof desc === "string" ? commentLines(desc) : [];
        if (body.negate) lines.push(`# the opposite of vLLM-SR's \`${oneLine(d.name)}\`: conditions test \`not ${name}\``);
        const block = Object.keys(body.fields).length ? [`signal ${type} ${name} {`, ...fieldLines(body.fields), "}"] : [`signal ${type} ${name} {}`];
        return [...lines, ...block].join("\n");
      };
      const { name, text } = this.declareOnce("signal", d.name, d.pos, render);
      info.rpName = name;
      info.negate = body.negate;
      if (d.signalType === "language" && !languageCode(d.name)) {
        this.note(d.pos, "approximate", `SIGNAL language \`${d.name}\``, "the name is not a language code: the signal holds for any detected language; give it `languages: [..]`");
      }
      if (row.status === "approximate" || body.notes.length) {
        const lines = [row.status === "approximate" ? row.why : null, ...body.notes].filter((x): x is string => x !== null);
        this.note(d.pos, "approximate", `SIGNAL ${d.signalType} \`${d.name}\``, lines.join("; "));
      }
      if (body.negate && d.signalType === "keyword") this.note(d.pos, "approximate", `SIGNAL keyword \`${d.name}\``, "`operator: NOR`: the signal lists the words with `any`, and every condition that tests it tests `not` it");
      if (text !== null) this.signalDecls.push(text);
    }
    const shared: string[] = [];
    if (this.domainSignal !== null) {
      shared.push(`signal domain ${this.domainSignal} {\n  classes: ${valueText(this.domainClasses)}\n  multi_label: true\n}`);
    }
    if (preferences.length) shared.push(this.preferenceSignal(preferences));
    shared.push(...this.knowledgeSignals(kbSignals));
    this.signalDecls.unshift(...shared);
  }

  /** A name the importer chooses for a signal it shares out (`domains`, `preferences`), reserved before any declared signal takes it. */
  private sharedName(wanted: string): string {
    const name = this.signals.has(wanted) ? this.signals.claim(wanted, false, this.scope.owner) : wanted;
    this.signals.reserve(name, this.scope.owner);
    return name;
  }

  /** "; the conditions that test it read a `metadata` stand-in", when some condition tests it. */
  private standInSaid(d: VSignalDecl): string {
    return this.isReferenced(d) ? "; the conditions that test it read a `metadata` stand-in" : "";
  }

  /** Every preference as an entry of one knowledge signal: the closest preference wins, as vLLM-SR's classifier picks one. */
  private preferenceSignal(prefs: SignalInfo[]): string {
    const name = this.sharedName("preferences");
    const row = SIGNAL_TABLE.preference;
    this.note(prefs[0].decl.pos, "approximate", "SIGNAL preference", row.why);
    const entries: Record<string, string[]> = {};
    const entryNames = new Namespace();
    const thresholds: number[] = [];
    for (const info of prefs) {
      const d = info.decl;
      const what = `SIGNAL preference \`${d.name}\``;
      if (Object.keys(entries).length >= MAX_KNOWLEDGE_LABELS) {
        this.note(d.pos, "dropped", what, `a knowledge signal has at most ${MAX_KNOWLEDGE_LABELS} entries, and ${MAX_KNOWLEDGE_LABELS} preferences came before it${this.standInSaid(d)}`);
        continue;
      }
      const ex = fieldValue(d.fields, "examples");
      const examples = (Array.isArray(ex) ? ex : []).filter((x): x is string => typeof x === "string" && x.trim() !== "");
      const desc = fieldValue(d.fields, "description");
      const notes = d.fields.map((f) => f.key).filter((k) => !["examples", "threshold", "description"].includes(k)).map((k) => `field \`${k}\` has no routeplane counterpart`);
      let texts = examples;
      if (texts.length === 0) {
        texts = [typeof desc === "string" && desc.trim() !== "" ? desc : d.name];
        notes.push(`no \`examples\`: its ${typeof desc === "string" && desc.trim() !== "" ? "description" : "name"} is the entry's only text`);
      }
      if (texts.length > MAX_KNOWLEDGE_TEXTS) {
        notes.push(`${texts.length} examples: a knowledge entry has at most ${MAX_KNOWLEDGE_TEXTS}, so the first ${MAX_KNOWLEDGE_TEXTS} are kept`);
        texts = texts.slice(0, MAX_KNOWLEDGE_TEXTS);
      }
      const t = fieldValue(d.fields, "threshold");
      if (typeof t === "number" && t >= 0 && t <= 1) thresholds.push(t);
      const n0 = entryNames.renames.length;
      const entry = entryNames.claim(d.name);
      for (const r of entryNames.renames.slice(n0)) this.note(d.pos, "renamed", `preference \`${r.from}\``, `entry \`${entry}\` of \`${name}\`: ${r.why}`);
      entries[entry] = [...new Set(texts)];
      info.rpName = name;
      info.test = `${name} == ${quote(entry)}`;
      if (notes.length) this.note(d.pos, "approximate", what, notes.join("; "));
    }
    const fields: Record<string, unknown> = { entries };
    if (thresholds.length) {
      const t = Math.min(...thresholds);
      fields.threshold = t;
      if (new Set(thresholds).size > 1) this.note(prefs[0].decl.pos, "approximate", `\`${name}\` threshold`, `the preferences' thresholds (${[...new Set(thresholds)].join(", ")}) become one, the lowest: ${t}`);
    }
    return [`signal knowledge ${name} {`, ...fieldLines(fields), "}"].join("\n");
  }

  /** One knowledge signal per knowledge base that kb signals name, built from its labels.json (read once per import). */
  private knowledgeSignals(kbSignals: SignalInfo[]): string[] {
    const out: string[] = [];
    const declared = new Map<string, string>();
    for (const info of kbSignals) {
      const d = info.decl;
      const what = `SIGNAL kb \`${d.name}\``;
      const kbName = fieldValue(d.fields, "kb");
      const target = fieldValue(d.fields, "target") as Record<string, unknown> | undefined;
      const kind = target && typeof target === "object" ? target.kind : undefined;
      const value = target && typeof target === "object" ? target.value : undefined;
      const kb = typeof kbName === "string" ? this.shared.knowledgeBase(kbName) : { error: "no `kb` names its knowledge base" };
      if ("error" in kb) {
        this.note(d.pos, "dropped", what, `${kb.error}${this.standInSaid(d)}`);
        continue;
      }
      const notes = d.fields.map((f) => f.key).filter((k) => !["kb", "target", "match", "description"].includes(k)).map((k) => `field \`${k}\` has no routeplane counterpart`);
      let labels: string[] | undefined;
      if (kind === "label" && typeof value === "string") labels = kb.labels.has(value) ? [kb.labels.get(value)!] : undefined;
      else if (kind === "group" && typeof value === "string") labels = kb.groups.get(value);
      if (!labels || labels.length === 0) {
        const why = kind !== "label" && kind !== "group"
          ? "`target.kind` is neither `label` nor `group`"
          : kind === "label" ? `the knowledge base \`${String(kbName)}\` has no label \`${String(value)}\`${kb.cut.includes(String(value)) ? ` (it is past the first ${MAX_KNOWLEDGE_LABELS} labels, which are all a knowledge signal holds)` : ""}`
          : `the knowledge base \`${String(kbName)}\` has no group \`${String(value)}\` with labels it kept`;
        this.note(d.pos, "dropped", what, `${why}${this.standInSaid(d)}`);
        continue;
      }
      let name = declared.get(kbName as string);
      if (name === undefined) {
        const fields: Record<string, unknown> = { entries: kb.entries };
        if (kb.threshold !== undefined) fields.threshold = kb.threshold;
        const declared1 = this.declareOnce("signal", kbName as string, d.pos, (n) => [`# vLLM-SR's knowledge base \`${oneLine(kbName as string)}\` (${oneLine(kb.source)})`, `signal knowledge ${n} {`, ...fieldLines(fields), "}"].join("\n"));
        name = declared1.name;
        declared.set(kbName as string, name);
        if (declared1.text !== null) {
          out.push(declared1.text);
          this.note(d.pos, "approximate", `knowledge base \`${kbName as string}\``, [SIGNAL_TABLE.kb.why, ...kb.notes].join("; "));
        }
      }
      info.rpName = name;
      info.test = labels.length === 1 ? `${name} == ${quote(labels[0])}` : `${name} in [${labels.map(quote).join(", ")}]`;
      const match = fieldValue(d.fields, "match");
      if (match === "threshold") notes.push("`match: threshold` (every label over its threshold) is read as the best label");
      else if (match !== undefined && match !== "best") notes.push(`\`match: ${JSON.stringify(match)}\` is unknown; read as \`best\``);
      if (kind === "group") {
        const missing = (kb.rawGroups.get(value as string) ?? []).filter((l) => !kb.labels.has(l));
        if (missing.length) notes.push(`group labels not in the knowledge base's entries are left out: ${missing.map((l) => `\`${l}\``).join(", ")}`);
      }
      if (notes.length) this.note(d.pos, "approximate", what, notes.join("; "));
    }
    return out;
  }

  private isReferenced(d: VSignalDecl): boolean {
    let found = false;
    const visit = (e: VExpr): void => {
      if (found) return;
      if (e.kind === "ref") found = e.signalType === d.signalType && (e.name === d.name || e.name.startsWith(`${d.name}:`));
      else if (e.kind === "not") visit(e.arg);
      else {
        visit(e.left);
        visit(e.right);
      }
    };
    for (const e of this.conditions()) visit(e);
    return found;
  }

  private conditions(): VExpr[] {
    const out: VExpr[] = [];
    for (const d of this.program) {
      if (d.kind === "route") for (const i of d.items) if (i.kind === "when") out.push(i.expr);
      if (d.kind === "decision_tree") for (const b of d.branches) if (b.condition) out.push(b.condition);
    }
    return out;
  }

  private findSignal(type: string | null, name: string): SignalInfo | undefined {
    return this.signalInfo.find((s) => (type === null || s.decl.signalType === type) && s.decl.name === name);
  }

  /** A metadata stand-in for a signal routeplane cannot compute, declared once. */
  private standIn(type: string, name: string, pos: VPos, why = "is not computed by routeplane"): string {
    const key = `vllm-sr/${type}/${name}`;
    let n = this.standIns.get(key);
    if (n === undefined) {
      const d = this.declareOnce("signal", name, pos, (x) => `# stand-in: vLLM-SR's ${oneLine(type)} signal \`${oneLine(name)}\` ${why} (IMPORT.md)\nsignal metadata ${x} { key: ${quote(key)} }`);
      n = d.name;
      this.standIns.set(key, n);
      if (d.text !== null) this.signalDecls.push(d.text);
    }
    return n;
  }

  // ---- partitions (PROJECTION partition, SIGNAL_GROUP)

  private collectPartitions(): void {
    for (const d of this.program) {
      if (!((d.kind === "projection" && d.projection === "partition") || d.kind === "signal_group")) continue;
      const decl = d as VProjectionDecl | VSignalGroupDecl;
      const what = decl.kind === "signal_group" ? `SIGNAL_GROUP \`${decl.name}\`` : `PROJECTION partition \`${decl.name}\``;
      const members = fieldValue(decl.fields, "members");
      const names = Array.isArray(members) ? members.filter((m): m is string => typeof m === "string") : [];
      const semantics = fieldValue(decl.fields, "semantics");
      const dflt = fieldValue(decl.fields, "default");
      const infos = names.map((n) => ({ n, info: this.signalInfo.find((s) => s.decl.name === n && s.decl.signalType !== "domain") ?? this.findSignal("domain", n) }));
      const domainMembers = infos.filter((x) => x.info?.decl.signalType === "domain");
      if (semantics !== undefined && semantics !== "softmax_exclusive" && semantics !== "exclusive") {
        this.note(decl.pos, "approximate", what, `\`semantics: "${String(semantics)}"\`: routeplane partitions are exclusive (the most confident member wins)`);
      }
      if (domainMembers.length === infos.length && infos.length > 0) {
        for (const x of infos) x.info!.domainLabel = true;
        this.note(decl.pos, "approximate", what, `its members are domain classes: conditions test \`${this.domainSignal}\`'s label (\`${this.domainSignal} == "${domainMembers[0].info!.domainClass}"\`), the most confident class, so no partition is needed${typeof dflt === "string" ? `; \`default: "${dflt}"\` (the class when none matches) has no counterpart — without a label no domain condition holds` : ""}`);
        continue;
      }
      const members2: string[] = [];
      for (const { n, info } of infos) {
        if (!info) {
          this.note(decl.pos, "dropped", what, `member \`${n}\` is not a declared signal: left out`);
          continue;
        }
        if (info.decl.signalType === "domain") {
          this.note(decl.pos, "dropped", what, `member \`${n}\` is a domain class, which cannot share a partition with other signals: left out (the domain's label is exclusive on its own)`);
          continue;
        }
        if (info.partition) {
          this.note(decl.pos, "dropped", what, `member \`${n}\` is already in another partition: left out`);
          continue;
        }
        if (info.test !== undefined && info.rpName !== null) {
          this.note(decl.pos, "dropped", what, `member \`${n}\` is a label of \`${info.rpName}\` (\`${info.test}\`), which is one label per request on its own: left out`);
          continue;
        }
        if (info.negate) {
          this.note(decl.pos, "dropped", what, `member \`${n}\` is written as its opposite (conditions test \`not ${info.rpName}\`), which a partition cannot hold: left out`);
          continue;
        }
        const member = info.rpName ?? this.standIn(info.decl.signalType, info.decl.name, info.decl.pos);
        if (info.rpName === null) info.standIn = member;
        if (!members2.includes(member)) members2.push(member);
      }
      if (members2.length < 2 || members2.length > 32) {
        this.note(decl.pos, "dropped", what, `${members2.length} member${members2.length === 1 ? "" : "s"} left: a routeplane partition has 2 to 32`);
        continue;
      }
      const name = this.claim(this.signals, decl.name, decl.pos, "partition");
      const fields: Record<string, unknown> = { members: members2.map((m) => new BareName(m)) };
      if (typeof dflt === "string") {
        const di = infos.find((x) => x.n === dflt)?.info;
        const dm = di ? di.rpName ?? di.standIn : undefined;
        if (dm && members2.includes(dm)) fields.default = new BareName(dm);
        else this.note(decl.pos, "dropped", what, `\`default: "${dflt}"\` is not one of the members kept: no default`);
      }
      for (const { info } of infos) {
        if (info && info.decl.signalType !== "domain" && !info.partition) {
          const m = info.rpName ?? info.standIn;
          if (m && members2.includes(m)) info.partition = `${name}.${m}`;
        }
      }
      const t = fieldValue(decl.fields, "temperature");
      this.signalDecls.push(`signal partition ${name} {\n${fieldLines(fields).join("\n")}\n}`);
      if (t !== undefined) this.note(decl.pos, "approximate", what, "`temperature` shapes vLLM-SR's normalized confidences, not which member wins: not carried");
    }
  }

  // ---- projection scores and mappings

  private collectScores(): void {
    const scores = this.program.filter((d): d is VProjectionDecl => d.kind === "projection" && d.projection === "score");
    const mappings = this.program.filter((d): d is VProjectionDecl => d.kind === "projection" && d.projection === "mapping");
    for (const s of scores) {
      const what = `PROJECTION score \`${s.name}\``;
      const method = fieldValue(s.fields, "method");
      if (method !== undefined && method !== "weighted_sum") this.note(s.pos, "approximate", what, `\`method: "${String(method)}"\`: written as a weighted sum`);
      const inputs = fieldValue(s.fields, "inputs");
      const coef = new Map<string, number>();
      const order: string[] = [];
      const droppedInputs: string[] = [];
      for (const input of Array.isArray(inputs) ? inputs : []) {
        if (!input || typeof input !== "object") continue;
        const { type, name, weight } = input as Record<string, unknown>;
        const w = typeof weight === "number" ? weight : 0;
        const label = `${String(type)}(${JSON.stringify(String(name ?? (input as Record<string, unknown>).kb ?? ""))})`;
        if (typeof type !== "string" || typeof name !== "string") {
          droppedInputs.push(`${label}: no signal to read`);
          continue;
        }
        const [base] = type === "complexity" ? [name.replace(/:(hard|medium|easy)$/, "")] : [name];
        const info = this.findSignal(type, base);
        const row = SIGNAL_TABLE[type];
        let ref: string | null = null;
        if (info && info.decl.signalType === "domain" && this.domainSignal) ref = `${this.domainSignal}.${info.domainClass}`;
        else if (info && info.rpName && row?.scoreOutput && row.scoreOutput !== "class") ref = `${info.rpName}.${row.scoreOutput}`;
        if (!ref) {
          droppedInputs.push(`${label}: ${!info ? "not a declared signal" : row?.status === "dropped" || !row ? `${type} signals are not computed by routeplane` : `\`${row.routeplane}\` signals have no numeric output that stands for a match or a confidence`}`);
          continue;
        }
        if (w === 0) continue;
        if (!coef.has(ref)) order.push(ref);
        coef.set(ref, (coef.get(ref) ?? 0) + w);
      }
      let terms = order.map((r) => ({ ref: r, w: coef.get(r)! })).filter((t) => t.w !== 0);
      if (terms.length > 16) {
        const kept = [...terms].sort((a, b) => Math.abs(b.w) - Math.abs(a.w)).slice(0, 16);
        const cut = terms.filter((t) => !kept.includes(t));
        droppedInputs.push(`${cut.map((t) => `\`${t.ref}\``).join(", ")}: a routeplane score has at most 16 inputs, and these weigh least`);
        terms = terms.filter((t) => kept.includes(t));
      }
      const maps = mappings.filter((m) => fieldValue(m.fields, "source") === s.name);
      if (terms.length === 0) {
        this.note(s.pos, "dropped", what, "none of its inputs has a routeplane numeric output: the bands that map it are `metadata` stand-ins where conditions test them");
        continue;
      }
      const name = this.claim(this.signals, s.name, s.pos, "score");
      const value = terms.map((t, i) => {
        const mag = Math.abs(t.w);
        const sign = t.w < 0 ? (i === 0 ? "-" : " - ") : i === 0 ? "" : " + ";
        return `${sign}${numberText(mag)} * ${t.ref}`;
      }).join("");
      const bandNames = new Namespace();
      bandNames.reserve("value");
      bandNames.reserve("matched");
      const bandLines: string[] = [];
      for (const m of maps) {
        const mwhat = `PROJECTION mapping \`${m.name}\``;
        const mm = fieldValue(m.fields, "method");
        if (mm !== undefined && mm !== "threshold_bands") this.note(m.pos, "approximate", mwhat, `\`method: "${String(mm)}"\`: read as threshold bands`);
        if (fieldValue(m.fields, "calibration") !== undefined) this.note(m.pos, "dropped", mwhat, "`calibration` only changes vLLM-SR's reported confidence of a band: not carried");
        const outs = fieldValue(m.fields, "outputs");
        for (const o of Array.isArray(outs) ? outs : []) {
          if (!o || typeof o !== "object") continue;
          const out = o as Record<string, unknown>;
          if (typeof out.name !== "string") continue;
          const n0 = bandNames.renames.length;
          const band = bandNames.claim(out.name);
          for (const r of bandNames.renames.slice(n0)) this.note(m.pos, "renamed", `band \`${r.from}\``, `band \`${band}\` of \`${name}\`: ${["value", "matched"].includes(r.from) ? `\`${name}.${r.from}\` is the score's own output` : r.why}`);
          const range: Record<string, number> = {};
          if (typeof out.gte === "number") range.min = out.gte;
          else if (typeof out.gt === "number") {
            range.min = out.gt;
            this.note(m.pos, "approximate", `band \`${out.name}\``, `\`gt: ${out.gt}\` becomes \`min: ${out.gt}\`: routeplane bands include their min, so the value ${out.gt} itself is in the band`);
          }
          if (typeof out.lt === "number") range.max = out.lt;
          else if (typeof out.lte === "number") {
            range.max = out.lte;
            this.note(m.pos, "approximate", `band \`${out.name}\``, `\`lte: ${out.lte}\` becomes \`max: ${out.lte}\`: routeplane bands exclude their max, so the value ${out.lte} itself is not in the band`);
          }
          if (range.min === undefined && range.max === undefined) {
            this.note(m.pos, "dropped", `band \`${out.name}\``, "no bound (`lt`, `lte`, `gt`, `gte`): left out");
            continue;
          }
          if (range.min !== undefined && range.max !== undefined && range.min >= range.max) {
            this.note(m.pos, "dropped", `band \`${out.name}\``, "its range is empty: left out");
            continue;
          }
          this.bands.set(out.name, { score: name, band });
          bandLines.push(`    ${band}: ${valueText(range)}`);
        }
      }
      const body = [`  value: ${value}`];
      if (bandLines.length) body.push("  bands: {", ...bandLines, "  }");
      this.signalDecls.push([`signal score ${name} {`, ...body, "}"].join("\n"));
      const why = CONSTRUCT_TABLE["PROJECTION score"].why;
      this.note(s.pos, "approximate", what, droppedInputs.length ? `${why}. Left out: ${droppedInputs.join("; ")}` : why);
    }
    for (const m of mappings) {
      const source = fieldValue(m.fields, "source");
      if (!scores.some((s) => s.name === source)) this.note(m.pos, "dropped", `PROJECTION mapping \`${m.name}\``, `its source \`${String(source)}\` is not a PROJECTION score of this program: its bands are stand-ins where conditions test them`);
    }
  }

  // ---- conditions

  private condition(e: VExpr, local?: Map<SignalInfo, RExpr>): RExpr {
    switch (e.kind) {
      case "and":
      case "or":
        return { k: e.kind, left: this.condition(e.left, local), right: this.condition(e.right, local) };
      case "not":
        return { k: "not", arg: this.condition(e.arg, local) };
      case "ref": {
        if (e.fields.length) this.note(e.pos, "dropped", `\`${e.signalType}("${e.name}", …)\``, `per-reference fields (${e.fields.map((f) => `\`${f.key}\``).join(", ")}) have no counterpart: the signal's own settings apply`);
        return this.signalRef(e.signalType, e.name, e.pos, local);
      }
    }
  }

  private signalRef(type: string, name: string, pos: VPos, local?: Map<SignalInfo, RExpr>): RExpr {
    if (type === "projection") {
      const band = this.bands.get(name);
      if (band) return leaf(`${band.score}.${band.band}`);
      return leaf(this.standIn("projection", name, pos));
    }
    let base = name;
    let level: string | null = null;
    if (type === "complexity") {
      const m = /^(.*):(hard|medium|easy)$/.exec(name);
      if (m) [base, level] = [m[1], m[2]];
    }
    const info = this.findSignal(type, base);
    if (!info) {
      const row = SIGNAL_TABLE[type];
      // A misspelling is the likely cause: name the declared signal of that type closest to it.
      const declared = this.signalInfo.filter((s) => s.decl.signalType === type).map((s) => s.decl.name);
      const near = declared.find((d) => editDistance(d, base) <= Math.max(1, Math.floor(base.length / 3)));
      this.note(pos, "dropped", `\`${type}("${name}")\``, `${row ? `no ${type} signal \`${base}\` is declared${near ? ` (did you mean \`${near}\`?)` : ""}` : `unknown signal type \`${type}\``}: the condition reads a \`metadata\` stand-in`);
      return leaf(this.standIn(type, base, pos, row ? "is not declared in the program" : "has a type routeplane does not know"));
    }
    if (info.rpName === null) return leaf(info.standIn ?? (info.standIn = this.standIn(type, base, pos)));
    const own = local?.get(info);
    if (own) return own;
    if (info.domainClass !== undefined) return leaf(`${info.rpName} ${info.domainLabel ? "==" : "has"} ${quote(info.domainClass)}`, 4);
    if (info.test !== undefined) return leaf(info.test, 4);
    if (info.decl.signalType === "user_feedback") {
      const label = FEEDBACK_LABELS[info.decl.name] ?? "negative";
      return leaf(`${info.rpName} == ${quote(label)}`, 4);
    }
    const ref = info.partition ?? info.rpName;
    if (level !== null) {
      if (info.partition) this.note(pos, "approximate", `\`complexity("${name}")\``, "the signal is a partition member: the level is read from its score, whoever wins");
      return leaf(`${info.rpName}.${level}`);
    }
    return info.negate ? { k: "not", arg: leaf(ref) } : leaf(ref);
  }

  // ---- plugins

  private collectPluginTemplates(): void {
    for (const d of this.program) {
      if (d.kind !== "plugin") continue;
      this.pluginTemplates.set(d.name, d);
    }
  }

  private readonly declaredTemplates = new Map<string, PluginOut>();

  /** Declares the routeplane plugin for a template (once) and returns what it became, or null when it maps to nothing. */
  private templatePlugin(t: VPluginDecl): PluginOut {
    if (this.declaredTemplates.has(t.name)) return this.declaredTemplates.get(t.name)!;
    const out = this.pluginFrom(t.pluginType, t.fields, t.name, t.pos, `PLUGIN \`${t.name}\``);
    this.declaredTemplates.set(t.name, out);
    return out;
  }

  /**
   * Declares a routeplane plugin built from vLLM-SR fields and returns its
   * name; or per-use model parameters (`request_params`); null (with a note)
   * when the type has no counterpart.
   */
  private pluginFrom(type0: string, fields: VField[], wanted: string, pos: VPos, what: string): PluginOut {
    const type = PLUGIN_ALIASES[type0] ?? type0;
    const row = PLUGIN_TABLE[type];
    if (!row || row.status === "dropped" || !row.body) {
      this.note(pos, "dropped", what, row ? `${type}: ${row.why}` : `unknown plugin type \`${type}\`: not translated`);
      return null;
    }
    const fm = fieldMap(fields);
    const built = row.body((k) => (fm.has(k) ? plain(fm.get(k)!.value) : undefined), [...fm.keys()]);
    if (!built) {
      this.note(pos, "dropped", what, "disabled (`enabled: false`) or empty: not applied");
      return null;
    }
    if (built.type === "header_mutation") {
      const set = built.fields.set as Record<string, string> | undefined;
      const remove = built.fields.remove as string[] | undefined;
      const owned = [...Object.keys(set ?? {}), ...(remove ?? [])].filter((h) => sidecarOwnedHeader(h) !== null);
      if (owned.length) {
        for (const h of owned) {
          if (set) delete set[h];
        }
        if (remove) built.fields.remove = remove.filter((h) => !owned.includes(h));
        if (set && Object.keys(set).length === 0) delete built.fields.set;
        if (remove && (built.fields.remove as string[]).length === 0) delete built.fields.remove;
        this.note(pos, "dropped", what, `headers the sidecar owns are left out: ${owned.map((h) => `\`${h}\``).join(", ")}`);
        if (!built.fields.set && !built.fields.remove) return null;
      }
    }
    if (built.type === "none") {
      this.note(pos, "dropped", what, `${built.notes.join("; ")}: not applied`);
      return null;
    }
    if (row.status === "approximate" || built.notes.length) this.note(pos, "approximate", what, [row.status === "approximate" ? row.why : null, ...built.notes].filter(Boolean).join("; "));
    if (built.type === "params") return { params: built.fields };
    const fieldsOut: Record<string, unknown> = { ...built.fields };
    for (const k of ["mode", "position", "action"]) if (typeof fieldsOut[k] === "string") fieldsOut[k] = new BareName(fieldsOut[k] as string);
    if (Array.isArray(fieldsOut.types)) fieldsOut.types = (fieldsOut.types as string[]).map((t) => new BareName(t));
    const { name, text } = this.declareOnce("plugin", wanted, pos, (n) => (Object.keys(fieldsOut).length ? [`plugin ${built.type} ${n} {`, ...fieldLines(fieldsOut), "}"].join("\n") : `plugin ${built.type} ${n} {}`));
    if (text !== null) this.pluginDecls.push(text);
    return name;
  }

  /** The plugins a route applies, and the model parameters its `request_params` plugins set. */
  private applyList(items: VRouteItem[], routeName: string): { names: string[]; params: Record<string, unknown> } {
    const names: string[] = [];
    const params: Record<string, unknown> = {};
    for (const item of items) {
      if (item.kind !== "plugin") continue;
      const ref = item.plugin;
      const template = this.pluginTemplates.get(ref.name);
      let out: PluginOut;
      if (template && !ref.fields?.length) out = this.templatePlugin(template);
      else if (template) {
        // Overrides: the template's fields with the route's on top, as one plugin of this route.
        const merged = [...template.fields.filter((f) => !ref.fields!.some((o) => o.key === f.key)), ...ref.fields!];
        out = this.pluginFrom(template.pluginType, merged, `${routeName}_${ref.name}`, ref.pos, `PLUGIN \`${ref.name}\` in ROUTE \`${routeName}\``);
      } else {
        out = this.pluginFrom(ref.name, ref.fields ?? [], `${routeName}_${ref.name}`, ref.pos, `PLUGIN ${ref.name} in ROUTE \`${routeName}\``);
      }
      if (typeof out === "string" && !names.includes(out)) names.push(out);
      else if (out && typeof out === "object") {
        // Two request_params plugins cap in turn: the lower cap holds.
        for (const [k, v] of Object.entries(out.params)) params[k] = typeof v === "number" && typeof params[k] === "number" ? Math.min(v, params[k] as number) : v;
      }
    }
    return { names, params };
  }

  // ---- model selection

  /** Per-use parameters from a model reference's options (`reasoning = true`, `effort = "high"`, `lora = "x"`). */
  private modelParams(r: VModelRef, what: string): Record<string, unknown> {
    const p: Record<string, unknown> = {};
    const other: string[] = [];
    for (const o of r.options) {
      if (o.key === "weight") continue;
      const v = plain(o.value);
      const bad = (why: string) => this.note(o.pos, "dropped", `MODEL \`${r.model}\` option \`${o.key}\` in ${what}`, why);
      if (o.key === "reasoning") {
        if (typeof v === "boolean") p.reasoning = v;
        else bad(`\`${valueText(v)}\` is not true or false`);
      } else if (o.key === "effort") {
        if (typeof v === "string" && (EFFORTS as readonly string[]).includes(v)) p.effort = new BareName(v);
        else bad(`\`${typeof v === "string" ? v : valueText(v)}\` is not one of routeplane's efforts (${EFFORTS.join(", ")})`);
      } else if (o.key === "lora") {
        if (typeof v === "string" && LORA_NAME.test(v)) p.lora = v;
        else bad("not a served adapter name routeplane accepts (letters, digits and `._:/-`, at most 128)");
      } else other.push(o.key);
    }
    if (other.length) this.note(r.pos, "dropped", `MODEL \`${r.model}\` options in ${what}`, `${[...new Set(other)].map((k) => `\`${k}\``).join(", ")}: ${CONSTRUCT_TABLE["MODEL param_size/mode"].why}`);
    return p;
  }

  private selection(items: VRouteItem[], what: string, pos: VPos, routeParams: Record<string, unknown> = {}): string | null {
    const refs: VModelRef[] = items.flatMap((i) => (i.kind === "model" ? i.models : []));
    const algo = items.find((i) => i.kind === "algorithm");
    for (const i of items) {
      if (i.kind === "for") this.note(i.pos, "dropped", `FOR in ${what}`, CONSTRUCT_TABLE["FOR … IN"].why);
      if (i.kind === "algorithm" && i !== algo) this.note(i.pos, "dropped", `ALGORITHM in ${what}`, "a second ALGORITHM: the first one is used");
    }
    // Each model's parameters: its options (the first reference that has any), with the route's request_params under them.
    const byModel = new Map<string, Record<string, unknown>>();
    for (const r of refs) {
      const p = this.modelParams(r, what);
      if (!Object.keys(p).length) continue;
      const had = byModel.get(r.model);
      if (had === undefined) byModel.set(r.model, p);
      else if (valueText(had) !== valueText(p)) this.note(r.pos, "dropped", `MODEL \`${r.model}\` options in ${what}`, "the model is named again with other options: routeplane sets one set of parameters per model of a route, the first one's");
    }
    let models = [...new Set(refs.map((r) => r.model))];
    if (models.length === 0) {
      const dflt = this.defaultModelName();
      if (!dflt) return null;
      this.note(pos, "derived", what, `no MODEL: it uses the default model \`${dflt}\`, as vLLM-SR does`);
      models = [dflt];
    }
    const names = models.map((m) => this.modelName(m, pos));
    const params = models.map((m) => ({ ...routeParams, ...byModel.get(m) }));
    const paramText = (i: number) => (Object.keys(params[i]).length ? ` ${valueText(params[i])}` : "");
    const paramsField = () => {
      const withParams = names.map((n, i) => [n, params[i]] as const).filter(([, p]) => Object.keys(p).length);
      return withParams.length ? `, params: { ${withParams.map(([n, p]) => `${n}: ${valueText(p)}`).join(", ")} }` : "";
    };
    const weights = models.map((m) => {
      const w = refs.find((r) => r.model === m)?.options.find((o) => o.key === "weight");
      return w && w.value.kind === "number" && w.value.value >= 0 ? w.value.value : null;
    });
    const list = (xs: string[]) => `[${xs.join(", ")}]`;
    const use = () => `use ${names.map((n, i) => `${n}${paramText(i)}`).join(" fallback ")}`;
    if (!algo || algo.kind !== "algorithm") {
      if (names.length > 1 && weights.some((w) => w !== null)) {
        return `select weighted { models: ${list(names)}, weights: [${weights.map((w) => numberText(w ?? 1)).join(", ")}]${paramsField()} }`;
      }
      if (names.length > 1) this.note(pos, "approximate", what, "several models and no ALGORITHM: routeplane uses the first and falls back to the others in order");
      return use();
    }
    const a = algo.algorithm;
    const row = ALGORITHM_TABLE[a.type];
    const awhat = `ALGORITHM ${a.type} in ${what}`;
    if (!row) {
      this.note(a.pos, "approximate", awhat, `unknown algorithm \`${a.type}\`: the first model serves, the others are its fallbacks`);
      return use();
    }
    if (row.status !== "exact") this.note(a.pos, "approximate", awhat, row.why);
    const fm = fieldMap(a.fields);
    const built = row.fields && names.length > 1 ? row.fields((k) => (fm.has(k) ? plain(fm.get(k)!.value) : undefined), names) : null;
    if (built?.notes.length) this.note(a.pos, "approximate", awhat, built.notes.join("; "));
    const extra = [...new Set(a.fields.map((f) => f.key))].filter((k) => !built?.read.includes(k)).map((k) => `\`${k}\``);
    if (extra.length) this.note(a.pos, "dropped", awhat, `${extra.join(", ")}: no counterpart in routeplane's \`${row.routeplane}\``);
    if (names.length === 1 || row.routeplane === "use") return use();
    switch (row.routeplane) {
      case "weighted":
        return `select weighted { models: ${list(names)}, weights: [${names.map(() => "1").join(", ")}]${paramsField()} }`;
      case "adaptive":
        return `select adaptive { models: ${list(names)}, objective: quality - 0.1 * cost_usd, explore: 0.05${paramsField()} }`;
      case "cascade": {
        const f = built?.fields ?? {};
        return `select cascade { models: ${list(names)}${Object.entries(f).map(([k, v]) => `, ${k}: ${valueText(v)}`).join("")}${paramsField()} }`;
      }
      default:
        return `select ${row.routeplane} { models: ${list(names)}${paramsField()} }`;
    }
  }

  private defaultModelName(): string | null {
    const g = fieldValue(this.shared.globalFields, "default_model");
    if (typeof g === "string") return g;
    return this.shared.config?.defaultModel ?? null;
  }

  // ---- routes

  /** The scope's declarations (signals, plugins, routes, default, tests), in the order a file lists them. */
  translate(): { blocks: string[]; routes: number } {
    this.collectPluginTemplates();
    this.collectSignals();
    this.collectPartitions();
    this.collectScores();
    const routeItems = this.routeEntries();
    this.emitRoutes(routeItems);
    for (const d of this.program) {
      if (d.kind === "routing") this.routingNote(d.fields, d.pos);
      if (d.kind === "test") this.emitTests(d);
    }
    for (const t of this.pluginTemplates.values()) {
      if (!this.declaredTemplates.has(t.name)) this.templatePlugin(t);
    }
    const blocks = [
      ...this.signalDecls,
      ...this.pluginDecls,
      ...this.routeDecls,
      ...(this.defaultDecl ? [this.defaultDecl] : []),
      ...this.testDecls,
    ];
    return { blocks, routes: this.routeCount };
  }

  private routingNote(fields: VField[], pos: VPos): void {
    const strategy = fieldValue(fields, "strategy");
    if (strategy === "confidence") this.note(pos, "approximate", "ROUTING strategy confidence", CONSTRUCT_TABLE["ROUTING strategy"].why);
    const other = fields.map((f) => f.key).filter((k) => k !== "strategy");
    if (other.length) this.note(pos, "dropped", "ROUTING", `${other.map((k) => `\`${k}\``).join(", ")}: no counterpart`);
  }

  /** Every route of the program with its order key: ROUTEs, then DECISION_TREE branches. */
  private routeEntries(): RouteEntry[] {
    const out: RouteEntry[] = [];
    for (const d of this.program) {
      if (d.kind === "route") out.push(this.routeEntry(d));
    }
    const trees = this.program.filter((d): d is VDecisionTreeDecl => d.kind === "decision_tree");
    let rank = trees.reduce((n, t) => n + t.branches.length, 0);
    for (const t of trees) {
      t.branches.forEach((b, i) => {
        const nameItem = b.items.find((x) => x.kind === "name");
        const original = nameItem && nameItem.kind === "name" ? nameItem.name : `${t.name}_${b.condition ? i + 1 : "else"}`;
        for (const x of b.items) if (x.kind === "tier") this.note(x.pos, "dropped", `TIER in DECISION_TREE \`${t.name}\``, "a tree's branches are tried in order: the tier does not change it");
        const description = b.items.find((x) => x.kind === "description");
        out.push({
          original, pos: b.pos, tier: 0, priority: rank--, condition: b.condition, items: b.items,
          description: description && description.kind === "description" ? description.text : undefined,
          what: `DECISION_TREE \`${t.name}\` branch \`${original}\``,
        });
      });
      this.note(t.pos, "approximate", `DECISION_TREE \`${t.name}\``, CONSTRUCT_TABLE["DECISION_TREE"].why);
    }
    return out;
  }

  private routeEntry(d: VRouteDecl): RouteEntry {
    const what = `ROUTE \`${d.name}\``;
    let priority = 0;
    let tier = 0;
    let condition: VExpr | null = null;
    let description: string | undefined;
    for (const o of d.options) {
      if (o.key === "description" && o.value.kind === "string") description = o.value.value;
      else this.note(o.pos, "dropped", `${what} option \`${o.key}\``, o.key === "on_unknown" ? CONSTRUCT_TABLE["ROUTE on_unknown"].why : "no counterpart");
    }
    for (const i of d.items) {
      if (i.kind === "priority") priority = i.value.value;
      else if (i.kind === "tier") tier = i.value.value;
      else if (i.kind === "when") {
        if (condition) this.note(i.pos, "dropped", `WHEN in ${what}`, "a second WHEN: vLLM-SR keeps the last, and so does the import");
        condition = i.expr;
      } else if (i.kind === "description") description = i.text;
      else if (i.kind === "action") this.note(i.pos, "dropped", `ACTION in ${what}`, CONSTRUCT_TABLE["ACTION"].why);
      else if (i.kind === "emit") this.note(i.pos, "dropped", `EMIT ${i.emit.kind} in ${what}`, CONSTRUCT_TABLE["EMIT"].why);
    }
    return { original: d.name, pos: d.pos, tier, priority, condition, items: d.items, description, what };
  }

  private emitRoutes(entries: RouteEntry[]): void {
    const useTiers = entries.some((e) => e.tier > 0);
    const key = (e: RouteEntry) => (useTiers ? e.tier : 0);
    // vLLM-SR's order: tier (when any route has one), catch-alls after matches, priority (highest first), name.
    const order = [...entries].sort((a, b) => key(a) - key(b) || Number(a.condition === null) - Number(b.condition === null) || b.priority - a.priority || (a.original < b.original ? -1 : a.original > b.original ? 1 : 0));
    // The first catch-all in that order: the default when nothing after it could match; later catch-alls never win.
    const catchAlls = order.filter((e) => e.condition === null);
    let asRoute: RouteEntry | null = null;
    if (catchAlls.length) {
      const first = catchAlls[0];
      for (const c of catchAlls.slice(1)) this.note(c.pos, "dropped", c.what, `a catch-all (no WHEN) after \`${first.original}\`, which always wins before it: never chosen`);
      const later = order.slice(order.indexOf(first) + 1).filter((e) => e.condition !== null);
      if (later.length === 0) {
        this.catchAllName = first.original;
        this.emitDefault(first);
      } else {
        asRoute = first;
        this.note(first.pos, "approximate", first.what, `a catch-all (no WHEN) in tier ${first.tier}, before routes of later tiers: written as a route with \`when true\`, so the routes after it never match (as in vLLM-SR)`);
      }
    }
    const routed = order.filter((e) => e.condition !== null || e === asRoute);
    // Names in source order, so that a rename's `_2` goes to the later declaration.
    for (const e of entries) {
      if (!routed.includes(e)) continue;
      e.rp = this.claim(this.routes, e.original, e.pos, "route");
      this.routeNames.set(e.original, e.rp);
    }
    if (routed.length === 0) {
      if (!this.defaultDecl) this.deriveDefault();
      return;
    }
    // Priorities: vLLM-SR's own when they fit; with tiers, one band of priorities per tier, earlier tiers higher.
    const prios = this.assignPriorities(routed, useTiers);
    // Equal priorities: a partition of their signals (ADR 21) when each tests one signal, else `before` by name.
    const groups = new Map<number, RouteEntry[]>();
    for (const e of routed) {
      const p = prios.get(e)!;
      groups.set(p, [...(groups.get(p) ?? []), e]);
    }
    const before = new Map<RouteEntry, string[]>();
    const local = new Map<RouteEntry, Map<SignalInfo, RExpr>>();
    for (const [p, group] of groups) {
      if (group.length < 2) continue;
      if (this.alreadyExclusive(group)) continue;
      const tie = this.tiePartition(group, p);
      if (tie) {
        for (const [e, m] of tie) local.set(e, m);
        continue;
      }
      for (let i = 0; i + 1 < group.length; i++) before.set(group[i], group.slice(i + 1).map((e) => e.rp!));
      this.note(group[0].pos, "approximate", `routes ${group.map((e) => `\`${e.original}\``).join(", ")}`, `equal priority: ${CONSTRUCT_TABLE["equal priority"].why}; their conditions are not one distinct signal each, so they are ordered by name`);
    }
    for (const e of routed) this.emitRoute(e, prios.get(e)!, before.get(e) ?? [], local.get(e));
    if (!this.defaultDecl) this.deriveDefault();
  }

  private assignPriorities(routed: RouteEntry[], useTiers: boolean): Map<RouteEntry, number> {
    const out = new Map<RouteEntry, number>();
    const ps = routed.map((e) => e.priority);
    const min = Math.min(...ps);
    const max = Math.max(...ps);
    const shift = min < 0 ? -min : 0;
    if (shift) this.note(routed.find((e) => e.priority === min)!.pos, "approximate", "PRIORITY", `negative priorities: every priority is raised by ${shift} so the lowest is 0 (the order is the same)`);
    if (!useTiers) {
      if (max + shift <= MAX_PRIORITY) {
        for (const e of routed) out.set(e, e.priority + shift);
        return out;
      }
    } else {
      const tiers = [...new Set(routed.map((e) => e.tier))].sort((a, b) => a - b);
      const stride = max - min + 1;
      if (stride * tiers.length <= MAX_PRIORITY + 1) {
        for (const e of routed) out.set(e, (tiers.length - 1 - tiers.indexOf(e.tier)) * stride + (e.priority - min));
        for (const t of tiers) {
          const inTier = routed.filter((e) => e.tier === t);
          const lo = Math.min(...inTier.map((e) => out.get(e)!));
          const hi = Math.max(...inTier.map((e) => out.get(e)!));
          const first = inTier.reduce((a, b) => (a.pos.line <= b.pos.line ? a : b));
          this.note(first.pos, "derived", `TIER ${t}`, `${inTier.length} route${inTier.length === 1 ? "" : "s"} (${inTier.map((e) => `\`${e.rp}\``).join(", ")}): priorities ${lo === hi ? lo : `${lo}–${hi}`} (tiers come before priorities; each tier is a band of priorities above the next)`);
        }
        return out;
      }
    }
    // Too wide for routeplane's range: ranks, same order.
    const distinct = [...new Set(routed.map((e) => `${useTiers ? e.tier : 0}:${e.priority}`))];
    const keyOf = (e: RouteEntry) => `${useTiers ? e.tier : 0}:${e.priority}`;
    for (const e of routed) out.set(e, (distinct.length - distinct.indexOf(keyOf(e))) * 10);
    this.note(routed[0].pos, "approximate", "PRIORITY", `the priorities span more than routeplane's 0–${MAX_PRIORITY}: they are renumbered by rank (10, 20, …) in the same order`);
    return out;
  }

  /** The one signal a route's condition tests, bare (no level, no per-reference fields), or null. */
  private soleSignal(e: RouteEntry): SignalInfo | null {
    const c = e.condition;
    if (!c || c.kind !== "ref" || c.signalType === "projection" || c.fields.length) return null;
    if (c.signalType === "complexity" && /:(hard|medium|easy)$/.test(c.name)) return null;
    const info = this.findSignal(c.signalType, c.name);
    return info && info.rpName !== null && !info.negate ? info : null;
  }

  /**
   * Routes of equal priority that never overlap, so nothing is to be ordered:
   * each tests a different member of one partition, or a different label of
   * one knowledge signal (`preferences == "concise"`: one label per request).
   */
  private alreadyExclusive(group: RouteEntry[]): boolean {
    const seen = new Set<string>();
    let owner: string | null = null;
    for (const e of group) {
      const info = this.soleSignal(e);
      const key = info?.partition ?? (info?.test !== undefined && info.test.includes(" == ") ? info.test : undefined);
      if (!info || key === undefined) return false;
      const o = info.partition ? info.partition.split(".")[0] : info.rpName;
      if ((owner !== null && o !== owner) || seen.has(key)) return false;
      owner = o;
      seen.add(key);
    }
    return true;
  }

  /**
   * Routes of equal priority that each test exactly one distinct signal: the
   * most confident of them wins, as in vLLM-SR. Domain classes are tested as
   * the domain's label (`domains == "math"`, the most confident class); other
   * signals become members of one partition (ADR 21).
   */
  private tiePartition(group: RouteEntry[], priority: number): Map<RouteEntry, Map<SignalInfo, RExpr>> | null {
    const infos = group.map((e) => this.soleSignal(e));
    if (infos.some((i) => i === null || i.partition || i.test !== undefined || i.decl.signalType === "user_feedback")) return null;
    const all = infos as SignalInfo[];
    const out = new Map<RouteEntry, Map<SignalInfo, RExpr>>();
    if (all.every((i) => i.domainClass !== undefined)) {
      if (new Set(all.map((i) => i.domainClass)).size < all.length) return null;
      group.forEach((e, i) => out.set(e, new Map([[all[i], leaf(`${all[i].rpName} == ${quote(all[i].domainClass!)}`, 4)]])));
      this.note(group[0].pos, "approximate", `routes ${group.map((e) => `\`${e.original}\``).join(", ")}`, `equal priority, each testing one domain: the most confident of them wins, as in vLLM-SR, by testing \`${all[0].rpName}\`'s label (its most confident class)`);
      return out;
    }
    if (all.some((i) => i.domainClass !== undefined)) return null;
    const members = all.map((i) => i.rpName!);
    if (new Set(members).size < members.length || members.length > 32) return null;
    const name = this.signals.claim(`tie_${priority}`, false, this.scope.owner);
    this.signalDecls.push(`# routes ${group.map((e) => e.rp).join(", ")} share priority ${priority}: the most confident of their signals decides (ADR 21)\nsignal partition ${name} { members: [${members.join(", ")}] }`);
    this.note(group[0].pos, "approximate", `routes ${group.map((e) => `\`${e.original}\``).join(", ")}`, `equal priority, each testing one signal: the most confident of them wins, as in vLLM-SR, through partition \`${name}\` (ADR 21)`);
    group.forEach((e, i) => out.set(e, new Map([[all[i], leaf(`${name}.${members[i]}`)]])));
    return out;
  }

  private emitRoute(e: RouteEntry, priority: number, before: string[], local?: Map<SignalInfo, RExpr>): void {
    const hasModel = e.items.some((i) => i.kind === "model") || this.defaultModelName() !== null;
    const { names: apply, params } = hasModel ? this.applyList(e.items, e.rp!) : { names: [], params: {} };
    const sel = this.selection(e.items, e.what, e.pos, params);
    if (!sel) {
      this.note(e.pos, "dropped", e.what, "no MODEL and no default model to use: the route is left out");
      return;
    }
    const when = e.condition ? printExpr(this.condition(e.condition, local)) : "true";
    const lines = e.description ? commentLines(e.description) : [];
    lines.push(`route ${e.rp}${this.inProfile} priority ${priority}${before.length ? ` before ${before.join(", ")}` : ""} {`, `  when ${when}`, `  ${sel}`);
    if (apply.length) lines.push(`  apply ${apply.join(", ")}`);
    lines.push("}");
    this.routeDecls.push(lines.join("\n"));
    this.routeCount++;
  }

  private emitDefault(e: RouteEntry): void {
    const { names: apply, params } = this.applyList(e.items, "default");
    const sel = this.selection(e.items, e.what, e.pos, params);
    if (!sel) return;
    const lines = e.description ? commentLines(e.description) : [];
    lines.push(`# vLLM-SR's catch-all \`${oneLine(e.original)}\``, `default${this.inProfile} {`, `  ${sel}`);
    if (apply.length) lines.push(`  apply ${apply.join(", ")}`);
    lines.push("}");
    this.defaultDecl = lines.join("\n");
    const g = fieldValue(this.shared.globalFields, "default_model") ?? this.shared.config?.defaultModel;
    if (g !== undefined) this.note(e.pos, "derived", e.what, `the catch-all becomes the \`default\`; it wins before vLLM-SR's default model \`${String(g)}\`, which is not used`);
  }

  /** The default route from GLOBAL's or config's default_model, or else the first model declared (said so). */
  private deriveDefault(): void {
    const dflt = this.defaultModelName();
    if (dflt) {
      const name = this.modelName(dflt, this.shared.globalPos ?? { line: 0, col: 0 });
      this.defaultDecl = `# vLLM-SR's default model\ndefault${this.inProfile} { use ${name} }`;
      const from = typeof fieldValue(this.shared.globalFields, "default_model") === "string" ? "GLOBAL `default_model`" : `\`default_model\` of ${this.shared.configName}`;
      this.note(null, "derived", "default route", `\`default${this.inProfile} { use ${name} }\` from ${from}`);
      return;
    }
    const first = this.shared.models[0]?.name ?? [...this.shared.catalog.used][0];
    if (!first) {
      this.note(null, "derived", "default route", "no default model and no model at all: no `default`, so requests no route matches are refused");
      return;
    }
    const name = this.modelName(first, this.shared.models[0]?.pos ?? { line: 0, col: 0 });
    this.defaultDecl = `# not in the DSL: vLLM-SR sends unmatched requests to config.yaml's default_model\ndefault${this.inProfile} { use ${name} }`;
    this.note(null, "derived", "default route", `vLLM-SR's default model is in config.yaml, which was ${this.shared.config ? "read but names none" : "not given"}: \`default${this.inProfile} { use ${name} }\` uses the first model; pass --config or edit it`);
  }

  private emitTests(t: VTestDecl): void {
    t.entries.forEach((entry, i) => {
      const target = entry.route === this.catchAllName ? "default" : this.routeNames.get(entry.route);
      if (!target) {
        this.note(entry.pos, "dropped", `TEST \`${t.name}\``, `expects route \`${entry.route}\`, which the import has no route for: this query is left out`);
        return;
      }
      let label = `${t.name} ${i + 1}: ${entry.query.length > 60 ? entry.query.slice(0, 57) + "..." : entry.query}`;
      // Test names are one list for the package: another scope's test of the same name gets this one's profile before it.
      if (this.shared.testNames.has(label) && this.scope.profile !== null) label = `${this.scope.profile}: ${label}`;
      this.shared.testNames.add(label);
      const sel = this.scope.selector;
      const reach = sel.model !== undefined ? `model: ${quote(sel.model)}, ` : sel.path !== undefined ? `path: ${quote(sel.path)}, ` : "";
      this.testDecls.push(`test ${quote(label)} {\n  request { ${reach}user: ${quote(entry.query === "" ? " " : entry.query)} }\n  expect route ${target}\n}`);
    });
    if (t.entries.length) this.note(t.pos, "approximate", `TEST \`${t.name}\``, CONSTRUCT_TABLE["TEST"].why);
  }
}

interface RouteEntry {
  original: string;
  pos: VPos;
  tier: number;
  priority: number;
  condition: VExpr | null;
  items: VRouteItem[];
  description?: string;
  what: string;
  rp?: string;
}

/** Text for a one-line comment: line breaks (and other control characters) become spaces. */
function oneLine(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, " ");
}

/** A package name from the file's name: routeplane's dotted names, made safe. */
export function packageNameFor(name: string): string {
  const parts = name.split(".").map(toName);
  return parts.join(".");
}

/** A knowledge base's labels.json (labels, each with exemplars) as knowledge entries; or why it cannot be read. */
function loadKnowledgeBase(name: string, config: VllmSrConfig | null, opts: ImportOptions): KnowledgeBase | { error: string } {
  if (!config) return { error: `its knowledge base \`${name}\` is declared in config.yaml, which was not given (pass --config)` };
  const def = config.knowledgeBases.get(name);
  if (!def) return { error: `${opts.config!.name} declares no knowledge base \`${name}\` (\`global.model_catalog.kbs\`; vLLM-SR's built-in ones are not known to the import)` };
  const file = `${def.path.replace(/\/+$/, "")}/${def.manifest}`;
  if (file.startsWith("/") || file.includes("\\") || file.split("/").some((seg) => seg === ".." || seg === "")) {
    return { error: `the knowledge base \`${name}\` is at \`${file}\`, which is not a relative path inside config.yaml's directory` };
  }
  const text = opts.readFile?.(file);
  if (text === undefined) return { error: opts.readFile ? `\`${file}\` (the knowledge base \`${name}\`'s labels) could not be read` : `the knowledge base \`${name}\`'s labels are in \`${file}\`, which this import did not read` };
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch (err) {
    return { error: `\`${file}\` is not JSON: ${(err as Error).message.split("\n")[0]}` };
  }
  const labels = manifest && typeof manifest === "object" ? (manifest as Record<string, unknown>).labels : undefined;
  if (!labels || typeof labels !== "object" || Array.isArray(labels)) return { error: `\`${file}\` has no \`labels\` object` };
  const kb: KnowledgeBase = { entries: {}, labels: new Map(), groups: new Map(), rawGroups: def.groups, cut: [], threshold: def.threshold, source: file, notes: [] };
  const names = new Namespace();
  const cutTexts: string[] = [];
  const empty: string[] = [];
  for (const [label, body] of Object.entries(labels as Record<string, unknown>)) {
    const ex = body && typeof body === "object" ? (body as Record<string, unknown>).exemplars : undefined;
    let texts = [...new Set((Array.isArray(ex) ? ex : []).filter((x): x is string => typeof x === "string" && x.trim() !== ""))];
    if (texts.length === 0) {
      empty.push(label);
      continue;
    }
    if (Object.keys(kb.entries).length >= MAX_KNOWLEDGE_LABELS) {
      kb.cut.push(label);
      continue;
    }
    if (texts.length > MAX_KNOWLEDGE_TEXTS) {
      cutTexts.push(`\`${label}\` (${texts.length})`);
      texts = texts.slice(0, MAX_KNOWLEDGE_TEXTS);
    }
    const entry = names.claim(label, false);
    kb.labels.set(label, entry);
    kb.entries[entry] = texts;
  }
  if (Object.keys(kb.entries).length === 0) return { error: `\`${file}\` has no label with exemplars` };
  for (const [g, ls] of def.groups) kb.groups.set(g, [...new Set(ls.map((l) => kb.labels.get(l)).filter((l): l is string => l !== undefined))]);
  const renamed = [...kb.labels].filter(([from, to]) => from !== to);
  if (renamed.length) kb.notes.push(`labels renamed to routeplane names: ${renamed.map(([f, t]) => `\`${f}\` → \`${t}\``).join(", ")}`);
  if (kb.cut.length) kb.notes.push(`a knowledge signal holds at most ${MAX_KNOWLEDGE_LABELS} labels: ${kb.cut.map((l) => `\`${l}\``).join(", ")} left out`);
  if (cutTexts.length) kb.notes.push(`at most ${MAX_KNOWLEDGE_TEXTS} exemplars per label are kept, the first ones: ${cutTexts.join(", ")}`);
  if (empty.length) kb.notes.push(`labels without exemplars are left out: ${empty.map((l) => `\`${l}\``).join(", ")}`);
  if (def.threshold === undefined) kb.notes.push("no `threshold` in [0, 1]: routeplane's 0.5");
  if (def.ignored.length) kb.notes.push(`${def.ignored.map((k) => `\`${k}\``).join(", ")}: no counterpart (one threshold for every label; similarity to the closest exemplar)`);
  return kb;
}

/** A RECIPE as the profile it becomes, with what selects it. */
interface RecipeProfile {
  name: string;
  decl: VRecipeDecl;
  models: string[];
  pathPrefix: string | null;
  derivedPath: boolean;
}

/** vLLM-SR's name for the top-level program's recipe: an ENTRYPOINT that names it selects the top-level routes. */
const DEFAULT_RECIPE = "default";

/** A model name a profile can list (bundle/catalog.ts, PROFILE_SCHEMA). */
const PROFILE_MODEL = /^[\x21-\x7e]{1,256}$/;
/** A path prefix a profile can have (PROFILE_SCHEMA), without `.` and `..` segments. */
const PROFILE_PATH = /^(\/[A-Za-z0-9._~-]+)+$/;

/** A profile's declaration: `profile speed { models: ["auto-fast"] }`, the recipe's description above it. */
function profileDecl(p: RecipeProfile): string {
  const desc = p.decl.options.find((o) => o.key === "description");
  const lines = [`# vLLM-SR's RECIPE \`${oneLine(p.decl.name)}\``, ...(desc && desc.value.kind === "string" ? commentLines(desc.value.value) : [])];
  if (p.derivedPath) lines.push("# no ENTRYPOINT selects it: the path prefix is the import's (IMPORT.md)");
  const fields: string[] = [];
  if (p.models.length) fields.push(`models: [${p.models.map(quote).join(", ")}]`);
  if (p.pathPrefix !== null) fields.push(`path_prefix: ${quote(p.pathPrefix)}`);
  return [...lines, `profile ${p.name} { ${fields.join(", ")} }`].join("\n");
}

/**
 * Each RECIPE as a profile, and its ENTRYPOINTs as what selects it. An
 * entrypoint's request-facing model names (`model_names`; `name` and
 * `aliases` in later DSLs) become the `models` of the recipe its
 * unconditional rule (or `recipe`) names; a rule's path match becomes the
 * `path_prefix` of its recipe's profile. What cannot be said so (claims,
 * other APIs, assignments, a name or prefix given twice) is a note. A recipe
 * no entrypoint selects gets a path prefix of its own, said so.
 */
function recipeProfiles(recipes: VRecipeDecl[], entrypoints: VEntrypointDecl[], sourceName: string, notes: ImportNote[]): RecipeProfile[] {
  const note = (pos: VPos, status: ImportNote["status"], construct: string, text: string) => notes.push({ where: `${sourceName}:${pos.line}`, line: pos.line, status, construct, text });
  const names = new Namespace();
  const profiles: RecipeProfile[] = [];
  const byRecipe = new Map<string, RecipeProfile>();
  for (const r of recipes) {
    if (byRecipe.has(r.name)) {
      note(r.pos, "dropped", `RECIPE \`${r.name}\``, "a second RECIPE of that name (vLLM-SR refuses the program): not translated");
      continue;
    }
    const n0 = names.renames.length;
    const name = names.claim(r.name);
    for (const x of names.renames.slice(n0)) note(r.pos, "renamed", `RECIPE \`${x.from}\``, `profile \`${x.to}\`: ${x.why}`);
    const p: RecipeProfile = { name, decl: r, models: [], pathPrefix: null, derivedPath: false };
    profiles.push(p);
    byRecipe.set(r.name, p);
  }
  const claimedNames = new Map<string, string>(); // model name → who selects it (for the note of a second claim)
  const paths = new Map<string, string>(); // path prefix → profile
  const list = (xs: string[]) => xs.map((x) => `\`${x}\``).join(", ");
  const KNOWN = ["recipe", "model_names", "name", "aliases", "api", "rules", "assignments"];

  /** The path prefix a vLLM-SR path match can be in routeplane, or why none. */
  const prefixOf = (value: unknown): { prefix: string; cut: boolean } | { error: string } => {
    if (typeof value !== "string" || !value.startsWith("/")) return { error: "not a path starting with `/`" };
    const segments = value.split("/").slice(1).filter((x, i, all) => x !== "" || i < all.length - 1);
    const v1 = segments.indexOf("v1");
    const kept = v1 >= 0 ? segments.slice(0, v1) : segments;
    const prefix = kept.map((x) => `/${x}`).join("");
    if (kept.length === 0) return { error: "routeplane selects a profile by the part of the path before `/v1/`, and this path has none: it names an API endpoint, not a prefix" };
    if (!PROFILE_PATH.test(prefix) || prefix.length > 256 || kept.some((x) => x === "." || x === "..")) return { error: `\`${prefix}\` is not a path prefix routeplane accepts (segments of letters, digits and \`._~-\`, at most 256 characters)` };
    return { prefix, cut: v1 >= 0 };
  };

  for (const e of entrypoints) {
    const fm = fieldMap(e.fields);
    const get = (k: string) => (fm.has(k) ? plain(fm.get(k)!.value) : undefined);
    const what = "ENTRYPOINT";
    const unknown = [...fm.keys()].filter((k) => !KNOWN.includes(k));
    if (unknown.length) note(e.pos, "dropped", what, `${list(unknown)}: no counterpart`);
    const api = get("api");
    if (api !== undefined && api !== "chat") {
      note(e.pos, "dropped", `ENTRYPOINT api \`${String(api)}\``, `${CONSTRUCT_TABLE["ENTRYPOINT api"].why}: this entrypoint is left out`);
      continue;
    }
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    const name = get("name");
    const requestNames = [...new Set([...strings(get("model_names")), ...(typeof name === "string" ? [name] : []), ...strings(get("aliases"))])];
    const assigned: string[] = [];
    if (get("assignments") !== undefined) assigned.push("the entrypoint's");
    // The recipe the names select (the unconditional rule's), and the path matches of the other rules.
    let recipe: unknown = get("recipe");
    const rules = fm.get("rules")?.value;
    const pathRules: { recipe: unknown; match: Record<string, unknown>; rule: string; pos: VPos }[] = [];
    if (rules?.kind === "array") {
      recipe = undefined;
      for (const [i, item] of rules.items.entries()) {
        if (item.kind !== "object") continue;
        const rule = plain(item) as Record<string, unknown>;
        const ruleName = typeof rule.name === "string" ? rule.name : `rules[${i}]`;
        if (rule.assignments !== undefined) assigned.push(`rule \`${ruleName}\`'s`);
        const matchesValue = fieldMap(item.fields).get("matches")?.value;
        const matches = matchesValue?.kind === "array" ? matchesValue.items.filter((m) => m.kind === "object") : [];
        if (matches.length === 0) {
          if (recipe === undefined) recipe = rule.recipe;
          else note(item.pos, "dropped", `ENTRYPOINT rule \`${ruleName}\``, "a second rule without matches: vLLM-SR allows one catch-all, and the first is kept");
          continue;
        }
        for (const mv of matches) {
          const m = plain(mv) as Record<string, unknown>;
          if (m.claim !== undefined) {
            const c = m.claim as Record<string, unknown> | null;
            note(mv.pos, "dropped", `ENTRYPOINT rule \`${ruleName}\` claim match`, `\`${String(c?.name)}\` = ${JSON.stringify(c?.exact)} → recipe \`${String(rule.recipe)}\`: ${CONSTRUCT_TABLE["ENTRYPOINT claim match"].why}`);
          } else if (m.path !== undefined) pathRules.push({ recipe: rule.recipe, match: (m.path ?? {}) as Record<string, unknown>, rule: ruleName, pos: mv.pos });
        }
      }
    }
    if (assigned.length) note(e.pos, "dropped", "ENTRYPOINT assignments", `${assigned.join(", ")} \`assignments\`: ${CONSTRUCT_TABLE["ENTRYPOINT assignments"].why}`);

    // The names: the profile's `models`.
    if (requestNames.length === 0) {
      if (!pathRules.length) note(e.pos, "dropped", what, "no model name (`model_names`, or `name` and `aliases`): it selects nothing");
    } else if (typeof recipe !== "string") {
      note(e.pos, "dropped", what, rules?.kind === "array"
        ? `${list(requestNames)}: no rule without matches, so in vLLM-SR these names alone select no recipe (only with a path or claim); routeplane selects a profile by the model name alone, so they are left out and get the policy's own routes`
        : `${list(requestNames)}: no \`recipe\` (vLLM-SR refuses it): left out`);
    } else {
      const target = byRecipe.get(recipe);
      if (!target && recipe === DEFAULT_RECIPE) {
        const fresh = requestNames.filter((n) => !claimedNames.has(n));
        for (const n of fresh) claimedNames.set(n, "the top-level program");
        note(e.pos, "derived", what, `${list(fresh)} → recipe \`default\`, vLLM-SR's top-level program: the policy's own routes, which take every request no profile claims, so no profile lists them`);
      } else if (!target) {
        note(e.pos, "dropped", what, `${list(requestNames)} → recipe \`${recipe}\`, which the program does not declare (vLLM-SR refuses it): left out`);
      } else {
        for (const n of requestNames) {
          const prior = claimedNames.get(n);
          if (prior !== undefined) note(e.pos, "dropped", what, `\`${n}\` → recipe \`${recipe}\`: ${prior} already has this name (vLLM-SR refuses a name mapped twice; a routeplane model name selects one profile): the first is kept`);
          else if (!PROFILE_MODEL.test(n)) note(e.pos, "dropped", what, `\`${oneLine(n)}\` → recipe \`${recipe}\`: a profile's model names are 1 to 256 printable ASCII characters without spaces: left out`);
          else {
            claimedNames.set(n, `recipe \`${recipe}\``);
            target.models.push(n);
          }
        }
      }
    }

    // Path matches: the profile's `path_prefix`.
    for (const pr of pathRules) {
      const construct = `ENTRYPOINT rule \`${pr.rule}\` path match`;
      const at = pr.pos;
      const exact = typeof pr.match.exact === "string" ? pr.match.exact : undefined;
      const raw = exact ?? pr.match.prefix;
      const target = typeof pr.recipe === "string" ? byRecipe.get(pr.recipe) : undefined;
      if (!target) {
        note(at, "dropped", construct, pr.recipe === DEFAULT_RECIPE
          ? "→ recipe `default`, vLLM-SR's top-level program: the policy's own routes are served on the plain `/v1/…` paths, with no prefix of their own"
          : `→ recipe \`${String(pr.recipe)}\`, which the program does not declare: left out`);
        continue;
      }
      const got = prefixOf(raw);
      if ("error" in got) {
        note(at, "dropped", construct, `\`${oneLine(String(raw))}\` → recipe \`${pr.recipe as string}\`: ${got.error}`);
        continue;
      }
      if (target.pathPrefix === got.prefix) continue;
      if (target.pathPrefix !== null) {
        note(at, "dropped", construct, `\`${got.prefix}\` → recipe \`${pr.recipe as string}\`: a profile has one \`path_prefix\`, and \`${target.pathPrefix}\` came first`);
        continue;
      }
      const owner = paths.get(got.prefix);
      if (owner !== undefined) {
        note(at, "dropped", construct, `\`${got.prefix}\` → recipe \`${pr.recipe as string}\`: profile \`${owner}\` already has this prefix (a path selects one profile): the first is kept`);
        continue;
      }
      paths.set(got.prefix, target.name);
      target.pathPrefix = got.prefix;
      const how = [
        exact !== undefined ? `the exact path \`${exact}\` becomes a prefix, so the profile also takes the paths under it` : null,
        got.cut ? `only the part before \`/v1\` selects a profile in routeplane (\`/<prefix>/v1/chat/completions\`): \`${String(raw)}\` → \`${got.prefix}\`` : null,
      ].filter((x): x is string => x !== null);
      note(at, "approximate", construct, `\`path_prefix: "${got.prefix}"\` for profile \`${target.name}\`: ${["routeplane tries the path before the model name, so the profile takes every request on this path whatever model it names (vLLM-SR first needs one of the entrypoint's names)", ...how].join("; ")}`);
    }
  }

  // A recipe no entrypoint selects: vLLM-SR never reaches it, and a profile needs names or a prefix.
  for (const p of profiles) {
    if (p.models.length || p.pathPrefix !== null) continue;
    let prefix = `/${p.name}`;
    for (let i = 2; paths.has(prefix); i++) prefix = `/${p.name}_${i}`;
    paths.set(prefix, p.name);
    p.pathPrefix = prefix;
    p.derivedPath = true;
    note(p.decl.pos, "derived", `RECIPE \`${p.decl.name}\``, `no ENTRYPOINT selects it, so no request reaches it in vLLM-SR: profile \`${p.name}\` gets \`path_prefix: "${prefix}"\` (a profile needs model names or a path prefix) so that it compiles and its tests run; give it the model names that should select it, or delete it`);
  }
  return profiles;
}

/** Translates a vLLM-SR DSL program. Never throws on bad input. */
export function importVllmSr(opts: ImportOptions): ImportResult {
  const parsed = parseVllmSr(opts.source);
  if (parsed.errors.length) {
    return { errors: parsed.errors.map((e) => `${opts.sourceName}:${e.pos.line}:${e.pos.col}: ${e.message}`), files: [], notes: [], checks: [], profiles: [], ok: false };
  }
  let config: VllmSrConfig | null = null;
  if (opts.config) {
    try {
      config = readVllmSrConfig(opts.config.text, opts.config.name);
    } catch (err) {
      return { errors: [(err as Error).message], files: [], notes: [], checks: [], profiles: [], ok: false };
    }
  }
  const notes: ImportNote[] = [];
  const decls: VTopLevel[] = parsed.decls;
  const globals = decls.filter((d) => d.kind === "global");
  const kbCache = new Map<string, KnowledgeBase | { error: string }>();
  const base: Omit<Shared, "catalog"> = {
    knowledgeBase: (name) => {
      let kb = kbCache.get(name);
      if (kb === undefined) kbCache.set(name, (kb = loadKnowledgeBase(name, config, opts)));
      return kb;
    },
    sourceName: opts.sourceName,
    models: decls.filter((d): d is VModelDecl => d.kind === "model"),
    backends: decls.filter((d): d is VBackendDecl => d.kind === "backend"),
    globalFields: globals.flatMap((g) => g.fields),
    globalPos: globals[0]?.pos ?? null,
    config,
    configName: opts.config?.name ?? null,
    notes,
    signals: new Namespace(),
    plugins: new Namespace(),
    routes: new Namespace(),
    signalTexts: new Map(),
    pluginTexts: new Map(),
    testNames: new Set(),
  };
  const shared: Shared = { ...base, catalog: new ModelCatalog(base) };
  if (config) for (const n of config.notes) notes.push({ where: opts.config!.name, line: 0, status: "dropped", construct: "config", text: n });
  for (const g of globals) {
    const other = [...new Set(g.fields.map((f) => f.key).filter((k) => k !== "default_model"))];
    if (other.length) notes.push({ where: `${opts.sourceName}:${g.pos.line}`, line: g.pos.line, status: "dropped", construct: "GLOBAL", text: `${other.map((k) => `\`${k}\``).join(", ")}: ${CONSTRUCT_TABLE["GLOBAL (other fields)"].why}` });
    const strategy = fieldValue(g.fields, "strategy");
    if (strategy === "confidence") notes.push({ where: `${opts.sourceName}:${g.pos.line}`, line: g.pos.line, status: "approximate", construct: "GLOBAL strategy", text: CONSTRUCT_TABLE["ROUTING strategy"].why });
  }
  for (const b of shared.backends) {
    if (b.backendType !== "vllm_endpoint" && b.backendType !== "provider_profile") {
      notes.push({ where: `${opts.sourceName}:${b.pos.line}`, line: b.pos.line, status: "dropped", construct: `BACKEND ${b.backendType} \`${b.name}\``, text: CONSTRUCT_TABLE["BACKEND (other types)"].why });
    }
    if (fieldValue(b.fields, "api_key") !== undefined) {
      notes.push({ where: `${opts.sourceName}:${b.pos.line}`, line: b.pos.line, status: "dropped", construct: `BACKEND \`${b.name}\` api_key`, text: "credentials are never copied into a policy: give the models an `api_key_env`" });
    }
  }
  const top: Program = decls.filter((d): d is VRecipeEntry => ["routing", "signal", "signal_group", "projection", "route", "decision_tree", "plugin", "test"].includes(d.kind));
  const recipes = decls.filter((d): d is VRecipeDecl => d.kind === "recipe");
  const pkg = packageNameFor(opts.packageName);
  const profiles = recipeProfiles(recipes, decls.filter((d): d is VEntrypointDecl => d.kind === "entrypoint"), opts.sourceName, notes);
  for (const pr of profiles) {
    for (const o of pr.decl.options) {
      if (o.key !== "description") notes.push({ where: `${opts.sourceName}:${o.pos.line}`, line: o.pos.line, status: o.key === "strategy" ? "approximate" : "dropped", construct: `RECIPE \`${pr.decl.name}\` option \`${o.key}\``, text: o.key === "strategy" ? CONSTRUCT_TABLE["ROUTING strategy"].why : "no counterpart" });
    }
  }

  // One package: the top-level program is the policy's own routes (main.route), each recipe a
  // profile in a file of its own (recipes/<profile>.route), the models declared once (models.route).
  const topScope: Scope = { recipe: "", profile: null, owner: { id: "", prefix: "", label: "the top-level program" }, selector: {}, file: "main.route" };
  const scopes: { scope: Scope; program: Program; profile: RecipeProfile | null }[] = [{ scope: topScope, program: top, profile: null }];
  for (const pr of profiles) {
    const selector = pr.models.length ? { model: pr.models[0] } : { path: pr.pathPrefix! };
    scopes.push({ scope: { recipe: pr.decl.name, profile: pr.name, owner: { id: pr.name, prefix: pr.name, label: `recipe \`${pr.decl.name}\`` }, selector, file: `recipes/${pr.name}.route` }, program: pr.decl.entries, profile: pr });
  }
  const raw: Record<string, string> = {};
  const imported: ImportedProfile[] = [];
  let routeCount = 0;
  const header = `package ${pkg}`;
  const bodies = scopes.map(({ scope, program, profile }) => {
    const { blocks, routes } = new PolicyTranslator(program, shared, scope).translate();
    routeCount += routes;
    if (profile) imported.push({ name: profile.name, recipe: profile.decl.name, file: scope.file, models: profile.models, pathPrefix: profile.pathPrefix, derivedPath: profile.derivedPath, routes });
    return blocks;
  });
  for (const m of shared.models) shared.catalog.name(m.name, m.pos);
  raw["models.route"] = [header, ...[...shared.catalog.used].map((m) => shared.catalog.block(m).join("\n"))].join("\n\n") + "\n";
  scopes.forEach(({ scope, profile }, i) => {
    const head = profile === null
      ? [`${header}\n\nimport "models.route"${profiles.map((pr) => `\nimport "recipes/${pr.name}.route"`).join("")}`]
      : [header, profileDecl(profile)];
    raw[scope.file] = [...head, ...bodies[i]].join("\n\n") + "\n";
  });

  const files: ImportedFile[] = [];
  const errors: string[] = [];
  const formatted: Record<string, string> = {};
  for (const [path, text] of Object.entries(raw)) {
    const ast = parseFile(path, text);
    if (ast.problems.length) {
      // A bug in the importer, not the user's input: say where, keep the text for the report.
      errors.push(`internal error: the generated ${path} does not parse (${ast.problems[0].kind} at ${ast.problems[0].span.start.line}:${ast.problems[0].span.start.col}: found ${ast.problems[0].found})`);
      formatted[path] = text;
    } else formatted[path] = formatFile(ast);
    files.push({ path, text: formatted[path] });
  }
  const result = compile(memoryHost(formatted), Object.keys(formatted), { emit: false });
  const checks: PolicyCheck[] = [{
    dir: "",
    package: pkg,
    routes: routeCount,
    errors: result.diagnostics.filter((d) => d.severity === "error"),
    warnings: result.diagnostics.filter((d) => d.severity === "warning"),
  }];
  notes.push({ where: null, line: 0, status: "derived", construct: "package", text: `\`package ${pkg}\` from the file's name` });
  const ok = errors.length === 0 && checks.every((c) => c.errors.length === 0);
  files.push({ path: "IMPORT.md", text: renderImportReport({ sourceName: opts.sourceName, configName: opts.config?.name ?? null, notes, checks, files, profiles: imported }) });
  return { errors, files, notes, checks, profiles: imported, ok };
}

/** Levenshtein distance, for did-you-mean on undeclared signal names (short names only: quadratic). */
function editDistance(a: string, b: string): number {
  if (a.length > 64 || b.length > 64) return Math.max(a.length, b.length);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}
