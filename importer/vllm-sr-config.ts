// vLLM Semantic Router's config.yaml, for what the DSL only names: each
// model's endpoint, provider, served name and price, and the default model.
// Two layouts are read: the current one (`providers.defaults.default_model`,
// `providers.models[]` with `backend_refs`, `pricing`) and the early one
// (`default_model`, `vllm_endpoints[]`, `model_config.<model>`); and the
// knowledge bases that `kb` signals name (`global.model_catalog.kbs[]`: where
// each one's labels.json is, its threshold and groups). Everything
// else in the file (listeners, signals already in the DSL, router settings)
// is not read, and IMPORT.md says which top-level keys were skipped.
// Credentials are never copied into a policy.
import { parseDocument } from "yaml";

export interface ConfigModel {
  servedName?: string;
  endpoint?: string;
  provider?: string;
  cost?: { input: number; output: number };
  apiKeyEnv?: string;
  contextWindow?: number;
}

/** A knowledge base of `global.model_catalog.kbs[]`: its labels and exemplars are in `<path>/<manifest>`. */
export interface ConfigKnowledgeBase {
  path: string;
  manifest: string;
  threshold?: number;
  /** Groups of labels (`target: { kind: group }`). */
  groups: Map<string, string[]>;
  /** Fields read but not carried (`label_thresholds`, `prototype_scoring`, `metrics`). */
  ignored: string[];
}

export interface VllmSrConfig {
  defaultModel?: string;
  models: Map<string, ConfigModel>;
  knowledgeBases: Map<string, ConfigKnowledgeBase>;
  /** What was read but not carried (credentials, keys the importer does not read). */
  notes: string[];
}

/** Bytes of config the importer reads at most (the CLI refuses a larger file). */
export const MAX_CONFIG_BYTES = 2 * 1024 * 1024;

const READ_KEYS = new Set(["providers", "default_model", "vllm_endpoints", "model_config", "routing", "version"]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const price = (v: unknown): number | undefined => {
  const n = typeof v === "string" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : undefined;
};

/** An endpoint as routeplane wants it: an http(s) URL; `host:port` becomes `http://host:port/v1`. */
export function endpointUrl(v: string): string | undefined {
  if (/^https?:\/\/[^\s"]+$/.test(v)) return v;
  if (/^[A-Za-z0-9.-]+:443$/.test(v)) return `https://${v.slice(0, -4)}/v1`;
  if (/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/.test(v)) return `http://${v}/v1`;
  return undefined;
}

/** routeplane's provider for a vLLM-SR backend provider or API format. */
export function providerFor(backend: string | undefined, apiFormat: string | undefined, endpoint: string | undefined): string {
  const b = (backend ?? "").toLowerCase();
  if (b === "vllm" || b === "ollama" || b === "anthropic") return b;
  if (b === "azure" || b === "azure_openai") return "azure_openai";
  if (b === "openai") return endpoint?.startsWith("https://api.openai.com") ? "openai" : "openai_compatible";
  if ((apiFormat ?? "").toLowerCase() === "anthropic") return "anthropic";
  return "openai_compatible";
}

export class ConfigError extends Error {}

/** Reads a config.yaml's text; throws ConfigError (with the line) when it is not YAML or not a mapping. */
export function readVllmSrConfig(text: string, fileName: string): VllmSrConfig {
  if (text.length > MAX_CONFIG_BYTES) throw new ConfigError(`${fileName}: more than ${MAX_CONFIG_BYTES} bytes`);
  // Aliases are bounded (no "billion laughs"); duplicate keys are an error, as YAML 1.2 says.
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = e.linePos?.[0];
    throw new ConfigError(`${fileName}${at ? `:${at.line}:${at.col}` : ""}: not valid YAML: ${e.message.split("\n")[0].replace(/ at line \d+, column \d+:$/, "")}`);
  }
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError(`${fileName}: ${(err as Error).message.split("\n")[0]}`);
  }
  if (root === null || root === undefined) root = {};
  if (!isObj(root)) throw new ConfigError(`${fileName}: the config is not a YAML mapping (key: value)`);
  const out: VllmSrConfig = { models: new Map(), knowledgeBases: new Map(), notes: [] };
  const kbs = isObj(root.global) && isObj(root.global.model_catalog) && Array.isArray(root.global.model_catalog.kbs) ? root.global.model_catalog.kbs : [];
  const skipped = Object.keys(root).filter((k) => !READ_KEYS.has(k) && !(k === "global" && kbs.length > 0));
  if (skipped.length) out.notes.push(`not read (no policy counterpart, or already in the DSL): ${skipped.map((k) => `\`${k}\``).join(", ")}`);
  if (kbs.length > 0) out.notes.push("`global`: only its knowledge bases (`model_catalog.kbs`) are read; the rest are router settings with no policy counterpart");

  for (const kb of kbs) {
    if (!isObj(kb) || !str(kb.name) || !isObj(kb.source) || !str(kb.source.path)) continue;
    const groups = new Map<string, string[]>();
    if (isObj(kb.groups)) {
      for (const [g, labels] of Object.entries(kb.groups)) if (Array.isArray(labels)) groups.set(g, labels.filter((l): l is string => typeof l === "string"));
    }
    const t = kb.threshold;
    out.knowledgeBases.set(kb.name as string, {
      path: kb.source.path as string,
      manifest: str(kb.source.manifest) ?? "labels.json",
      threshold: typeof t === "number" && t >= 0 && t <= 1 ? t : undefined,
      groups,
      ignored: ["label_thresholds", "prototype_scoring", "metrics"].filter((k) => kb[k] !== undefined),
    });
  }

  const model = (name: string): ConfigModel => {
    let m = out.models.get(name);
    if (!m) out.models.set(name, (m = {}));
    return m;
  };
  const secret = (name: string) => out.notes.push(`the credential of model \`${name}\` is not copied: give the model an \`api_key_env\` (the name of an environment variable) by hand`);

  // The current layout.
  const providers = root.providers;
  if (isObj(providers)) {
    if (isObj(providers.defaults)) out.defaultModel = str(providers.defaults.default_model) ?? out.defaultModel;
    if (Array.isArray(providers.models)) {
      for (const entry of providers.models) {
        if (!isObj(entry) || !str(entry.name)) continue;
        const m = model(entry.name as string);
        m.servedName = str(entry.provider_model_id) ?? m.servedName;
        const ref = Array.isArray(entry.backend_refs) ? entry.backend_refs.find(isObj) : undefined;
        const endpoint = ref ? str(ref.endpoint) ?? str(ref.base_url) : undefined;
        if (endpoint) m.endpoint = endpointUrl(endpoint);
        if (endpoint && !m.endpoint) out.notes.push(`the endpoint \`${endpoint}\` of model \`${entry.name}\` is not an http(s) URL or host:port`);
        m.provider = providerFor(ref ? str(ref.provider) ?? str(ref.type) : undefined, str(entry.api_format), m.endpoint);
        if (isObj(entry.pricing)) {
          const input = price(entry.pricing.input_cost_per_million_tokens ?? entry.pricing.prompt_per_1m);
          const output = price(entry.pricing.output_cost_per_million_tokens ?? entry.pricing.completion_per_1m);
          if (input !== undefined && output !== undefined) m.cost = { input, output };
        }
        const env = str(entry.access_key_env) ?? (ref ? str(ref.access_key_env) ?? str(ref.api_key_env) : undefined);
        if (env && /^[A-Z_][A-Z0-9_]*$/.test(env)) m.apiKeyEnv = env;
        if (entry.access_key !== undefined || (ref && (ref.access_key !== undefined || ref.api_key !== undefined))) secret(entry.name as string);
      }
    }
  }
  if (isObj(root.routing) && Array.isArray(root.routing.modelCards)) {
    for (const card of root.routing.modelCards) {
      if (!isObj(card) || !str(card.name)) continue;
      const w = card.context_window_size;
      if (typeof w === "number" && Number.isInteger(w) && w > 0) model(card.name as string).contextWindow = w;
    }
  }

  // The early layout.
  out.defaultModel = out.defaultModel ?? str(root.default_model);
  const endpoints = new Map<string, string>();
  if (Array.isArray(root.vllm_endpoints)) {
    for (const ep of root.vllm_endpoints) {
      if (!isObj(ep) || !str(ep.name) || !str(ep.address)) continue;
      const port = typeof ep.port === "number" ? `:${ep.port}` : "";
      const url = endpointUrl(`${ep.address}${port}`) ?? endpointUrl(ep.address as string);
      if (url) endpoints.set(ep.name as string, url);
      if (str(ep.model)) {
        const m = model(ep.model as string);
        if (url && !m.endpoint) {
          m.endpoint = url;
          m.provider = m.provider ?? "vllm";
        }
      }
      if (ep.api_key !== undefined) secret(str(ep.model) ?? (ep.name as string));
    }
  }
  if (isObj(root.model_config)) {
    for (const [name, cfg] of Object.entries(root.model_config)) {
      if (!isObj(cfg)) continue;
      const m = model(name);
      const preferred = Array.isArray(cfg.preferred_endpoints) ? cfg.preferred_endpoints.map(str).find((e) => e && endpoints.has(e)) : undefined;
      if (preferred && !m.endpoint) {
        m.endpoint = endpoints.get(preferred);
        m.provider = m.provider ?? "vllm";
      }
      if (isObj(cfg.pricing) && !m.cost) {
        const input = price(cfg.pricing.prompt_per_1m ?? cfg.pricing.input_cost_per_million_tokens);
        const output = price(cfg.pricing.completion_per_1m ?? cfg.pricing.output_cost_per_million_tokens);
        if (input !== undefined && output !== undefined) m.cost = { input, output };
      }
    }
  }
  // A single endpoint serves every model that has none.
  if (endpoints.size === 1) {
    const only = [...endpoints.values()][0];
    for (const m of out.models.values()) if (!m.endpoint) {
      m.endpoint = only;
      m.provider = m.provider ?? "vllm";
    }
  }
  return out;
}
