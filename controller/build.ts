// From a RoutingPolicy to a signed bundle, as a table of named stages (like
// compiler/compile.ts): sources (inline and ConfigMaps) → compile (check and
// analyze) → sign. Pure over its inputs: the reconcile and the admission
// webhook both run it, on the informers' caches, and the same inputs give the
// same bytes (so no bundle store is needed: a restarted controller rebuilds
// the same revision). The compile stage runs in the compile worker
// (compile-worker.ts), off the main thread.
import type { V1ConfigMap, V1Secret } from "@kubernetes/client-node";
import type { Diagnostic } from "../compiler/index.ts";
import { bundleEtag, serializeBundle, signBundle, type Bundle } from "../bundle/index.ts";
import type { Compile } from "./compile-worker.ts";
import { policyNameOf, serialOf, type RoutingPolicy } from "./resources.ts";

/** What the build reads besides the policy: the informers' caches. */
export interface BuildInputs {
  configMap(namespace: string, name: string): V1ConfigMap | undefined;
  secret(namespace: string, name: string): V1Secret | undefined;
  /** The label selector the ConfigMap cache is limited to (--configmap-selector), if any. */
  configMapSelector?: string;
}

/** A problem outside the .route sources (a missing ConfigMap or key), with the condition it fails. */
export interface BuildProblem {
  stage: "sources" | "compile" | "sign";
  reason: string;
  message: string;
}

/** A signed bundle, ready to serve. */
export interface Publication {
  bytes: string;
  etag: string;
  revision: string;
  serial: number;
  policyName: string;
}

export interface PolicyBuild {
  files: Record<string, string>;
  /**
   * The compiler's diagnostics (empty when the sources could not be gathered). Only these are
   * kept, not the whole compile result: the controller keeps a build per policy, and the
   * analysis's witnesses hold on to its decision diagrams.
   */
  diagnostics: Diagnostic[];
  /** The code frames of the first errors, as `routeplane check` shows them (for an admission denial). */
  errorFrames: string;
  problems: BuildProblem[];
  publication: Publication | null;
  /** The stage that stopped the build, if one did. */
  failedAt: "sources" | "compile" | "sign" | null;
}

interface State {
  rp: RoutingPolicy;
  inputs: BuildInputs;
  sign: boolean;
  build: PolicyBuild;
  compile: Compile;
  /** The unsigned bundle, while the build runs. */
  bundle?: Bundle | null;
}

const DEFAULT_KEY_ENTRY = "signing.key";

const STAGES: { name: "sources" | "compile" | "sign"; run: (s: State) => boolean | Promise<boolean> }[] = [
  { name: "sources", run: gatherSources },
  { name: "compile", run: compilePolicy },
  { name: "sign", run: signPolicy },
];

/** Builds a policy; `sign: false` stops after compiling (admission needs no key). */
export async function buildPolicy(rp: RoutingPolicy, inputs: BuildInputs, compile: Compile, { sign = true }: { sign?: boolean } = {}): Promise<PolicyBuild> {
  const state: State = { rp, inputs, sign, compile, build: { files: {}, diagnostics: [], errorFrames: "", problems: [], publication: null, failedAt: null } };
  for (const stage of STAGES) {
    if (!(await stage.run(state))) {
      state.build.failedAt = stage.name;
      break;
    }
  }
  return state.build;
}

function gatherSources(s: State): boolean {
  const namespace = s.rp.metadata?.namespace ?? "";
  const files = s.build.files;
  const origin = new Map<string, string>();
  const add = (file: string, text: string, from: string) => {
    const before = origin.get(file);
    if (before !== undefined) {
      s.build.problems.push({ stage: "sources", reason: "DuplicateFile", message: `${file} is given by both ${before} and ${from}; each file name may come from one place` });
      return;
    }
    origin.set(file, from);
    files[file] = text;
  };
  for (const [file, text] of Object.entries(s.rp.spec.sources ?? {})) add(file, text, "spec.sources");
  for (const ref of s.rp.spec.configMaps ?? []) {
    const cm = s.inputs.configMap(namespace, ref.name);
    if (!cm) {
      const selector = s.inputs.configMapSelector;
      s.build.problems.push({ stage: "sources", reason: "ConfigMapNotFound", message: selector
        ? `ConfigMap ${namespace}/${ref.name} (spec.configMaps) does not exist or lacks the labels the controller watches (${selector}); create it, label it (kubectl label configmap ${ref.name} -n ${namespace} ${selector.split(",").join(" ")}), or remove the reference`
        : `ConfigMap ${namespace}/${ref.name} (spec.configMaps) does not exist; create it or remove the reference` });
      continue;
    }
    const data = cm.data ?? {};
    const keys = ref.keys ?? Object.keys(data).filter((k) => k.endsWith(".route")).sort();
    for (const key of keys) {
      if (data[key] === undefined) {
        s.build.problems.push({ stage: "sources", reason: "ConfigMapKeyNotFound", message: `ConfigMap ${namespace}/${ref.name} has no entry ${key} (spec.configMaps[].keys)` });
        continue;
      }
      if (!key.endsWith(".route")) {
        s.build.problems.push({ stage: "sources", reason: "NotARouteFile", message: `ConfigMap ${namespace}/${ref.name} entry ${key} does not end in .route` });
        continue;
      }
      add(key, data[key], `ConfigMap ${ref.name}`);
    }
  }
  if (Object.keys(files).length === 0 && s.build.problems.length === 0) {
    s.build.problems.push({ stage: "sources", reason: "NoSources", message: "the policy has no .route files: give spec.sources or spec.configMaps with .route entries" });
  }
  return s.build.problems.length === 0;
}

async function compilePolicy(s: State): Promise<boolean> {
  const outcome = await s.compile({
    files: s.build.files,
    policyName: policyNameOf(s.rp),
    serial: serialOf(s.rp),
    adaptation: s.rp.spec.adaptation?.mode ?? "off",
    allowUnproved: s.rp.spec.allowUnproved === true,
    emit: s.sign,
  });
  if (!outcome.ok) {
    s.build.problems.push({ stage: "compile", reason: outcome.reason, message: outcome.message });
    return false;
  }
  s.build.diagnostics = outcome.diagnostics;
  s.build.errorFrames = outcome.errorFrames;
  s.bundle = outcome.bundle;
  return !outcome.diagnostics.some((d) => d.severity === "error");
}

function signPolicy(s: State): boolean {
  if (!s.sign) return true;
  const bundle = s.bundle;
  if (!bundle) return false;
  const namespace = s.rp.metadata?.namespace ?? "";
  const { secretName, key = DEFAULT_KEY_ENTRY } = s.rp.spec.signingKey;
  const secret = s.inputs.secret(namespace, secretName);
  const problem = (reason: string, message: string) => {
    s.build.problems.push({ stage: "sign", reason, message });
    return false;
  };
  if (!secret) return problem("SecretNotFound", `the signing key Secret ${namespace}/${secretName} (spec.signingKey) does not exist; create it from \`routeplane keygen\`: kubectl create secret generic ${secretName} --from-file=${key}=<name>.key`);
  const encoded = secret.data?.[key];
  if (encoded === undefined) return problem("SecretKeyNotFound", `the Secret ${namespace}/${secretName} has no entry ${key} (spec.signingKey.key)`);
  let signed: Bundle;
  try {
    signed = signBundle(bundle, Buffer.from(encoded, "base64").toString("utf8"));
  } catch (err) {
    return problem("KeyInvalid", `the Secret ${namespace}/${secretName} entry ${key} is not an Ed25519 private key in PEM (${(err as Error).message})`);
  }
  const bytes = serializeBundle(signed);
  s.build.publication = { bytes, etag: bundleEtag(bytes), revision: signed.manifest.revision, serial: signed.manifest.serial, policyName: signed.manifest.policy };
  return true;
}

/** Diagnostics of the compiler's own stages (errors here mean Compiled=False). */
export const isCompileDiagnostic = (d: Diagnostic) => !/^RP1\d{3}$/.test(d.code);

/** One line per diagnostic, for events, admission warnings and status: `RP1005 p.route:23:14: message`. */
export function diagnosticLine(d: Diagnostic): string {
  return `${d.code} ${d.file}:${d.span.start.line}:${d.span.start.col}: ${d.message}${d.help ? ` (help: ${d.help})` : ""}`;
}
