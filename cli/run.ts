// Parses argv and dispatches to a command. Exit codes: 0 ok, 1 error
// diagnostics or failing tests, 2 usage error.
import { parseArgs } from "node:util";
// The version alone: `serve --bundle` runs without loading the compiler.
import { COMPILER_VERSION } from "../compiler/version.ts";
import { UsageError } from "./usage.ts";
import { EXIT, type Io } from "./io.ts";

interface CommandSpec {
  summary: string;
  usage: string;
  options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean; help: string }>;
  run: (io: Io, positionals: string[], values: Record<string, unknown>) => Promise<number>;
}

const format = { type: "string" as const, help: "text (default) or json" };

// Command modules load on demand: `check` need not pay for the engine's text models.
const policy = () => import("./policy-commands.ts");
const runner = () => import("./run-commands.ts");
const keys = () => import("./key-commands.ts");
const demo = () => import("./demo.ts");
const lint = () => import("./lint-command.ts");
const diff = () => import("./diff-command.ts");
const serve = () => import("./serve-command.ts");
const controller = () => import("./controller-command.ts");
const manifest = () => import("./manifest-command.ts");
const replayer = () => import("./replay-command.ts");
const adapt = () => import("./adapt-command.ts");
const importer = () => import("./import-command.ts");

const COMMANDS: Record<string, CommandSpec> = {
  compile: {
    summary: "compile .route files into a verified bundle",
    usage: "routeplane compile <files|dirs> -o bundle.json [--key signing.key] [--name policy] [--serial N [--rollback]] [--allow-unproved] [--notes]",
    options: {
      notes: { type: "boolean", help: "also show notes (severity info), as lint does" },
      output: { type: "string", short: "o", help: "where to write the bundle" },
      key: { type: "string", help: "sign the bundle with this Ed25519 private key" },
      name: { type: "string", help: "the policy's name in the manifest (default: its package)" },
      serial: { type: "string", help: "the bundle's place in its policy's release order (default $SOURCE_DATE_EPOCH, else the time of the last git commit to the sources)" },
      rollback: { type: "boolean", help: "a rollback: takes the place of the bundle with this --serial, which sidecars then refuse" },
      "allow-unproved": { type: "boolean", help: "write a bundle even when the analysis could not prove a guarantee (recorded as unchecked; sidecars refuse it by default)" },
      format,
    },
    run: async (io, p, v) => (await policy()).cmdCompile(io, need(p, "compile"), v as never),
  },
  check: {
    summary: "report diagnostics without writing a bundle",
    usage: "routeplane check <files|dirs> [--format json] [--notes]",
    options: { format, notes: { type: "boolean", help: "also show notes (severity info), as lint does" } },
    run: async (io, p, v) => (await policy()).cmdCheck(io, need(p, "check"), v as never),
  },
  lint: {
    summary: "check a policy for pull requests: diagnostics and analysis findings, witnesses confirmed by the engine",
    usage: "routeplane lint <files|dirs> [--format text|json|sarif|github] [--max-warnings N]",
    options: {
      format: { type: "string", help: "text (default), json, sarif (SARIF 2.1.0), or github (workflow annotations)" },
      "max-warnings": { type: "string", help: "exit 1 when there are more warnings than this" },
    },
    run: async (io, p, v) => (await lint()).cmdLint(io, need(p, "lint"), v as never),
  },
  diff: {
    summary: "show which requests a policy change decides differently, with an example each",
    usage: "routeplane diff <old> <new> | routeplane diff <rev>..<rev> [path] [--format text|markdown] [--exit-code]",
    options: {
      format: { type: "string", help: "text (default) or markdown (for a pull-request comment)" },
      "exit-code": { type: "boolean", help: "exit 1 when any decision changes (as git diff --exit-code); without it, 0" },
    },
    run: async (io, p, v) => (await diff()).cmdDiff(io, p, v as never),
  },
  fmt: {
    summary: "format .route files in place (comments are kept)",
    usage: "routeplane fmt <files|dirs> [--check] [--stdout]",
    options: {
      check: { type: "boolean", help: "change nothing; exit 1 if a file is not formatted" },
      stdout: { type: "boolean", help: "print the formatted text instead of writing files" },
    },
    run: async (io, p, v) => (await policy()).cmdFmt(io, need(p, "fmt"), v as never),
  },
  test: {
    summary: "run the policy's test blocks through the decision engine",
    usage: "routeplane test <files|dirs> [--format json] [--notes]",
    options: { format, notes: { type: "boolean", help: "also show notes (severity info), as lint does" } },
    run: async (io, p, v) => (await runner()).cmdTest(io, need(p, "test"), v as never),
  },
  adapt: {
    summary: "run the adapter: learn shares of adaptive routes from telemetry and feedback in Kafka, publish them to the sidecars",
    usage: "routeplane adapt --kafka-brokers h:p[,…] (--policy <dir> | --bundle b.json --public-key k.pub) [--mode on|observe] [--publish-interval 1] [--listen 127.0.0.1:9465]",
    options: {
      "kafka-brokers": { type: "string", help: "the brokers (comma-separated host:port)" },
      "kafka-topic": { type: "string", help: "the routing events' topic (default routeplane.routing; feedback from <topic>.feedback, invalid events to <topic>.dead-letter)" },
      "shares-topic": { type: "string", help: "the compacted topic learned shares go to, keyed by policy (default routeplane.shares)" },
      "state-topic": { type: "string", help: "the compacted topic the adapter's state is saved to (default routeplane.adapter-state)" },
      group: { type: "string", help: "the consumer group (default routeplane-adapter)" },
      policy: { type: "string", help: "the policy directory (compiled here: the same revision the controller makes)" },
      bundle: { type: "string", help: "or a signed bundle, verified with --public-key" },
      "public-key": { type: "string", multiple: true, help: "a trusted public key (PEM); repeatable" },
      mode: { type: "string", help: "on (default): sidecars apply the shares; observe: publish under <policy>/observe, which no sidecar applies" },
      "publish-interval": { type: "string", help: "seconds between publications of new shares and saves of the state (default 1)" },
      "join-window": { type: "string", help: "seconds a routing event waits for its feedback and feedback for its routing event (default 600)" },
      listen: { type: "string", help: "[host:]port of /healthz, /status and /metrics (default 127.0.0.1:9465)" },
    },
    run: async (io, _p, v) => (await adapt()).cmdAdapt(io, v as never),
  },
  replay: {
    summary: "estimate from recorded telemetry how another policy or set of learned shares would have done",
    usage: "routeplane replay <telemetry.jsonl…> --policy <dir> [--weights shares.json] [--format json]",
    options: {
      policy: { type: "string", help: "the policy to estimate: the current one, or a change to how its routes split traffic" },
      weights: { type: "string", help: "learned shares {version, routes: {route: {model: share}}, cells?: {route: {cell: {model: share}}}} to estimate instead of the policy's priors" },
      format,
    },
    run: async (io, p, v) => (await replayer()).cmdReplay(io, need(p, "replay"), v as never),
  },
  explain: {
    summary: "show how the policy decides one request, with the trace",
    usage: "routeplane explain <files|dirs|bundle.json> --request req.json [--format json]",
    options: { request: { type: "string", short: "r", help: "an OpenAI chat request body, or { body, headers, signals }" }, format },
    run: async (io, p, v) => (await runner()).cmdExplain(io, need(p, "explain"), v as never),
  },
  keygen: {
    summary: "create an Ed25519 key pair for signing bundles",
    usage: "routeplane keygen [--out name] [--force]",
    options: {
      out: { type: "string", help: "writes <name>.key and <name>.pub (default: routeplane)" },
      force: { type: "boolean", help: "overwrite existing files" },
    },
    run: async (io, _p, v) => (await keys()).cmdKeygen(io, v as never),
  },
  sign: {
    summary: "add a signature to a bundle",
    usage: "routeplane sign bundle.json --key signing.key [-o out.json]",
    options: { key: { type: "string", help: "Ed25519 private key (PEM)" }, output: { type: "string", short: "o", help: "write here instead of in place" } },
    run: async (io, p, v) => (await keys()).cmdSign(io, p[0], v as never),
  },
  verify: {
    summary: "check a bundle as a sidecar would: form, schema, revision, signature and recorded guarantees",
    usage: "routeplane verify bundle.json --pub signing.pub [--pub other.pub] [--allow-unproved]",
    options: {
      pub: { type: "string", multiple: true, help: "a trusted public key (PEM); repeatable" },
      "allow-unproved": { type: "boolean", help: "accept guarantees recorded unchecked (compiled with --allow-unproved), as `serve --allow-unproved` does" },
    },
    run: async (io, p, v) => (await keys()).cmdVerify(io, p[0], v as never),
  },
  serve: {
    summary: "run the sidecar: an OpenAI-compatible proxy that enforces a bundle and reports telemetry",
    usage: "routeplane serve (--bundle bundle.json --public-key k.pub | --controller https://… --policy-ref ns/name --public-key k.pub | --policy dir) [--listen [host:]port] [--demo] [--telemetry file.jsonl | --kafka-brokers h:p,…]",
    options: {
      bundle: { type: "string", help: "a signed bundle file; watched and hot-reloaded" },
      controller: { type: "string", help: "the controller's URL (https; http only on loopback): long-poll it for the bundles of --policy-ref" },
      "policy-ref": { type: "string", help: "with --controller: the RoutingPolicy <namespace>/<name> to enforce" },
      "token-file": { type: "string", help: "with --controller: the service-account token (audience routeplane), re-read for every poll (default /var/run/secrets/routeplane/token)" },
      "sidecar-id": { type: "string", help: "with --controller: this sidecar's name in the controller's status (default $POD_NAME, else host name-pid)" },
      "controller-ca": { type: "string", help: "with --controller: PEM certificate authorities for the controller's certificate (instead of the system ones)" },
      "poll-wait": { type: "string", help: "with --controller: seconds the controller may hold a poll (1–60, default 30); each poll reports this sidecar's health for canary analysis" },
      policy: { type: "string", help: "a policy directory, compiled in process (unsigned; for development)" },
      listen: { type: "string", help: "[host:]port to listen on (default 127.0.0.1:8080)" },
      "public-key": { type: "string", multiple: true, help: "a trusted public key (PEM); repeatable" },
      "state-dir": { type: "string", help: "where the last known good bundle is kept (default .routeplane-sidecar)" },
      "expect-policy": { type: "string", help: "the policy (manifest.policy) to serve; default: that of the first bundle activated" },
      "allow-unproved": { type: "boolean", help: "activate bundles whose guarantees are recorded unchecked (compiled with --allow-unproved)" },
      telemetry: { type: "string", help: "JSONL file for telemetry events (default routeplane-telemetry.jsonl)" },
      "kafka-brokers": { type: "string", help: "send telemetry to Kafka instead (comma-separated host:port)" },
      "kafka-topic": { type: "string", help: "topic for routing events (default routeplane.routing; feedback goes to <topic>.feedback)" },
      "shares-topic": { type: "string", help: "with --kafka-brokers: follow the adapter's learned shares in this compacted topic (e.g. routeplane.shares); refused outside the policy's bounds" },
      credentials: { type: "string", help: "JSON file { model: api key } (otherwise each model's api_key_env)" },
      "upstream-ca": { type: "string", help: "PEM file of extra certificate authorities for https model servers (e.g. an on-prem CA)" },
      demo: { type: "boolean", help: "send every model's requests to a built-in demo model server" },
      upstream: { type: "string", help: "send every model's requests to this OpenAI-compatible base URL (testing, benchmarks)" },
      embeddings: { type: "string", help: "OpenAI-compatible base URL for model-backed signals (embedding, domain, knowledge, fact_check, feedback with classifier: embeddings) and the cache's similarity (key: $ROUTEPLANE_EMBEDDINGS_API_KEY)" },
      "embeddings-model": { type: "string", help: "embedding model name (default text-embedding-3-small)" },
      "otlp-endpoint": { type: "string", help: "export OpenTelemetry traces and metrics over OTLP/HTTP (default $OTEL_EXPORTER_OTLP_ENDPOINT)" },
      weights: { type: "string", help: "learned shares of adaptive routes {version, revision?, routes: {route: {model: share}}, cells?: {route: {cell: {model: share}}}}; watched (also PUT /debug/weights); refused outside the policy's bounds" },
      "forward-header": { type: "string", multiple: true, help: "a client header to pass on to model servers; repeatable; replaces the default (traceparent, tracestate); credentials are never forwarded" },
      "key-env": { type: "string", multiple: true, help: "an environment variable a model's api_key_env may name besides *_API_KEY; repeatable" },
      "max-body-bytes": { type: "string", help: "largest request body, in bytes (default 10485760; 413 past it)" },
      "max-inflight-body-bytes": { type: "string", help: "request body bytes held at once over all connections (default 67108864; 503 past it)" },
      "max-response-buffer-bytes": { type: "string", help: "largest answer held whole for response plugins (default 16777216; 502 past it)" },
    },
    run: async (io, _p, v) => (await serve()).cmdServe(io, v as never),
  },
  manifest: {
    summary: "print a RoutingPolicy (Kubernetes) holding a policy's .route files, for GitOps",
    usage: "routeplane manifest <files|dirs> --name n [--namespace ns] [--signing-secret s] [--format yaml|json]",
    options: {
      name: { type: "string", help: "the RoutingPolicy's metadata.name" },
      namespace: { type: "string", help: "its metadata.namespace (default: none, so kubectl applies it to the current namespace)" },
      "signing-secret": { type: "string", help: "the Secret holding the signing key, spec.signingKey.secretName (default routeplane-signing-key)" },
      format: { type: "string", help: "yaml (default) or json" },
    },
    run: async (io, p, v) => (await manifest()).cmdManifest(io, need(p, "manifest"), v as never),
  },
  controller: {
    summary: "run the Kubernetes controller: compile, admit, sign and push RoutingPolicies to sidecars; inject sidecars into labelled pods",
    usage: "routeplane controller [--kubeconfig file] [--namespace ns] [--listen [host:]port] [--webhook-url url | --webhook-service ns/name[:port]]",
    options: {
      kubeconfig: { type: "string", help: "kubeconfig file (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)" },
      namespace: { type: "string", help: "watch only this namespace (default every namespace)" },
      "configmap-selector": { type: "string", help: "cache only ConfigMaps with these labels, e.g. routeplane.dev/sources=true (default every ConfigMap the controller may read)" },
      listen: { type: "string", help: "[host:]port of the HTTPS server: admission, sidecars, /healthz, /readyz, /metrics (default 0.0.0.0:8443)" },
      host: { type: "string", multiple: true, help: "a DNS name or IP address the generated certificate is for; repeatable (default localhost, 127.0.0.1)" },
      "tls-cert": { type: "string", help: "serving certificate (PEM) instead of a generated one, e.g. from cert-manager" },
      "tls-key": { type: "string", help: "its private key (PEM)" },
      "tls-ca": { type: "string", help: "the CA that issued it (PEM): the webhook's caBundle" },
      "tls-secret": { type: "string", help: "keep the generated certificate in this Secret (namespace/name), shared by every replica" },
      "webhook-url": { type: "string", help: "register the validating webhook at this URL (e.g. https://127.0.0.1:8443/validate)" },
      "webhook-service": { type: "string", help: "register the validating webhook at this Service (namespace/name[:port])" },
      "webhook-failure-policy": { type: "string", help: "Fail (default: no policy is admitted unchecked) or Ignore" },
      "write-ca": { type: "string", help: "write the CA certificate sidecars should trust (--controller-ca) to this file" },
      "lease-namespace": { type: "string", help: "namespace of the leader-election Lease (default $POD_NAMESPACE, else --namespace, else default)" },
      "no-leader-election": { type: "boolean", help: "always lead (a single replica only)" },
      "sidecar-image": { type: "string", help: "the image of sidecars the injection webhook adds (default ghcr.io/routeplane/routeplane:0.1.0)" },
      "sidecar-controller-url": { type: "string", help: "the controller's URL as injected sidecars reach it (default https://routeplane-controller.routeplane-system.svc)" },
      "otlp-endpoint": { type: "string", help: "export a span per reconcile and stage over OTLP/HTTP (default $OTEL_EXPORTER_OTLP_ENDPOINT)" },
      "compile-timeout": { type: "string", help: "seconds one policy may take to compile and analyse before it is refused (default 60, at most 2147483)" },
      "compile-memory": { type: "string", help: "MB of heap one compile may use before it is refused (default 1024)" },
    },
    run: async (io, _p, v) => (await controller()).cmdController(io, v as never),
  },
  import: {
    summary: "translate another router's policy into .route files: vLLM Semantic Router's DSL",
    usage: "routeplane import vllm-sr <recipe.dsl> [--config config.yaml] -o <dir> [--force]",
    options: {
      output: { type: "string", short: "o", help: "the directory the .route files and IMPORT.md go to (new or empty)" },
      config: { type: "string", help: "vLLM-SR's config.yaml: endpoints, providers, prices and the default model the DSL only names" },
      force: { type: "boolean", help: "write into a directory that is not empty (files of the same name are replaced)" },
    },
    run: async (io, p, v) => (await importer()).cmdImport(io, p, v as never),
  },
  demo: {
    summary: "compile the example policy and explain sample requests, without a server",
    usage: "routeplane demo [policy dir]",
    options: {},
    run: async (io, p) => (await demo()).cmdDemo(io, p),
  },
};

function need(positionals: string[], cmd: string): string[] {
  if (positionals.length === 0) throw new UsageError(`${cmd} needs at least one .route file or directory`);
  return positionals;
}

export const USAGE = [
  `routeplane ${COMPILER_VERSION}: routing policies for LLM traffic`,
  "",
  "usage: routeplane <command> [options]",
  "",
  "commands:",
  ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`),
  "",
  "`routeplane <command> --help` shows a command's options.",
  "exit codes: 0 ok, 1 errors in the policy or failing tests, 2 usage error",
].join("\n");

function commandHelp(name: string, c: CommandSpec): string {
  const opts = Object.entries(c.options).map(([k, o]) => `  ${(o.short ? `-${o.short}, ` : "    ") + `--${k}`.padEnd(12)} ${o.help}`);
  return [`${c.summary}`, "", `usage: ${c.usage}`, ...(opts.length ? ["", "options:", ...opts] : [])].join("\n");
}

export async function run(argv: string[], io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(USAGE);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === "--version" || name === "version") {
    io.out(COMPILER_VERSION);
    return EXIT.ok;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`routeplane: unknown command \`${name}\`\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(commandHelp(name, cmd));
    return EXIT.ok;
  }
  try {
    const options = Object.fromEntries(Object.entries(cmd.options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]));
    const { values, positionals } = parseArgs({ args: rest, options: options as never, allowPositionals: true, strict: true });
    return await cmd.run(io, positionals, values);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.err(`routeplane ${name}: ${(err as Error).message}\nusage: ${cmd.usage}`);
      return EXIT.usage;
    }
    throw err;
  }
}
