// manifest: a RoutingPolicy from .route files, for GitOps (docs/kubernetes.md,
// "GitOps: routeplane manifest"). The policy is loaded as `routeplane check`
// loads it (imports followed inside the policy root), refused when it has
// errors, and its files become spec.sources keyed by their path below the
// deepest directory holding them all, so the imports between them resolve the
// same way in the controller. Before printing, the manifest is put through the
// controller's own admission check: what this prints, the webhook admits.
import path from "node:path";
import { insideRoot } from "../compiler/index.ts";
import { CompileWorker, GROUP, KIND, VERSION, reviewPolicy, toYaml, type RoutingPolicy } from "../controller/index.ts";
import { UsageError } from "./files.ts";
import { EXIT, type Io } from "./io.ts";
import { compilePaths, reportDiagnostics } from "./policy-commands.ts";

export interface ManifestFlags {
  name?: string;
  namespace?: string;
  "signing-secret"?: string;
  format?: string;
}

/** The Secret named by spec.signingKey when --signing-secret is not given. */
export const DEFAULT_SIGNING_SECRET = "routeplane-signing-key";

/** The CRD's limits on spec.sources (crds/routingpolicies.yaml). */
const MAX_FILES = 256;
const MAX_FILE_CHARS = 1_048_576;
/** etcd stores objects up to 1.5 MiB by default; past about this the apiserver may refuse the object. */
const LARGE_OBJECT_BYTES = 1_000_000;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const isSubdomain = (s: string) => s.length <= 253 && s.split(".").every((part) => DNS_LABEL.test(part));

function checkName(value: string | undefined, flag: string, kind: "subdomain" | "label"): void {
  if (value === undefined) return;
  const ok = kind === "label" ? value.length <= 63 && DNS_LABEL.test(value) : isSubdomain(value);
  if (!ok) {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not a valid Kubernetes name: lower-case letters, digits and '-'${kind === "subdomain" ? " (and '.')" : ""}, starting and ending with a letter or digit, at most ${kind === "label" ? 63 : 253} characters`);
  }
}

/** The deepest directory that holds every file (absolute). */
function commonDirectory(files: string[]): string {
  const dirs = files.map((f) => path.dirname(path.resolve(f)));
  let common = dirs[0];
  while (!dirs.every((d) => insideRoot(common, d))) common = path.dirname(common);
  return common;
}

/**
 * spec.sources for the files a policy loads: each file's path below their
 * common directory, with `/` separators (`examples/support` gives
 * `support/main.route` and `shared/models.route`), sorted by name.
 */
export function sourcesOf(files: { path: string; source: string }[]): Record<string, string> {
  const common = commonDirectory(files.map((f) => f.path));
  const entries = files.map((f) => [path.relative(common, path.resolve(f.path)).split(path.sep).join("/"), f.source] as const);
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export async function cmdManifest(io: Io, paths: string[], opts: ManifestFlags): Promise<number> {
  const format = opts.format ?? "yaml";
  if (format !== "yaml" && format !== "json") throw new UsageError(`--format must be yaml or json, not ${format}`);
  if (!opts.name) throw new UsageError("manifest needs --name <name>: the RoutingPolicy's metadata.name");
  checkName(opts.name, "--name", "subdomain");
  checkName(opts.namespace, "--namespace", "label");
  const secretName = opts["signing-secret"] ?? DEFAULT_SIGNING_SECRET;
  checkName(secretName, "--signing-secret", "subdomain");

  // Loaded and checked as `routeplane check` does; warnings are shown, errors refuse.
  const result = compilePaths(paths, false);
  reportDiagnostics(io, result, "text", { countNotes: false });
  const errors = result.diagnostics.filter((d) => d.severity === "error").length;
  if (errors > 0) {
    io.err(`routeplane manifest: the policy has ${errors} error${errors === 1 ? "" : "s"}; no manifest printed`);
    return EXIT.failed;
  }

  const sources = sourcesOf(result.files);
  const names = Object.keys(sources);
  const tooLarge = names.filter((n) => sources[n].length > MAX_FILE_CHARS);
  if (names.length > MAX_FILES || tooLarge.length > 0) {
    io.err(`routeplane manifest: a RoutingPolicy holds at most ${MAX_FILES} files of at most ${MAX_FILE_CHARS} characters each (this policy: ${names.length} files${tooLarge.length ? `; too large: ${tooLarge.join(", ")}` : ""}); no manifest printed`);
    return EXIT.failed;
  }

  const rp: RoutingPolicy = {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: KIND,
    metadata: { name: opts.name, ...(opts.namespace ? { namespace: opts.namespace } : {}) },
    spec: { signingKey: { secretName }, sources },
  };

  // The controller compiles spec.sources as a bag of files: ask its admission check.
  // In the compile worker, as the controller runs it (with its limits).
  const compiler = new CompileWorker();
  const review = await reviewPolicy(
    { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "routeplane-manifest", operation: "CREATE", object: { ...rp, metadata: { ...rp.metadata, namespace: opts.namespace ?? "default" } } } },
    { configMap: () => undefined, secret: () => undefined },
    compiler.compile,
  ).finally(() => compiler.close());
  if (!review.response?.allowed) {
    io.err(`routeplane manifest: the controller would refuse this RoutingPolicy:\n${review.response?.status?.message ?? "(no reason given)"}`);
    return EXIT.failed;
  }

  const bytes = names.reduce((n, k) => n + Buffer.byteLength(k) + Buffer.byteLength(sources[k]), 0);
  if (bytes > LARGE_OBJECT_BYTES) {
    io.err(`routeplane manifest: warning: the sources are ${bytes} bytes; the apiserver may refuse an object this large (etcd's default limit is 1.5 MiB)`);
  }

  if (format === "json") io.out(JSON.stringify(rp, null, 2));
  else io.out(`# Generated by \`routeplane manifest\`: edit the .route files and generate it again.\n${toYaml(rp)}`);
  return EXIT.ok;
}
