// The routeplane command, run as a user runs it: real processes, real files.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO } from "./support/golden.ts";
import ajvDraft04 from "ajv-draft-04";
import { compile, emitBundle } from "../compiler/index.ts";
import { Engine, requestFromChat } from "../runtime/index.ts";

const MAIN = path.join(REPO, "cli/main.ts");

function rp(args: string[], cwd = REPO): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const workdirs: string[] = [];
after(() => {
  for (const d of workdirs) rmSync(d, { recursive: true, force: true });
});

function workdir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-cli-"));
  workdirs.push(dir);
  cpSync(path.join(REPO, "examples"), path.join(dir, "examples"), { recursive: true });
  return dir;
}

function noStackTrace(text: string): void {
  assert.doesNotMatch(text, /\n\s+at .+\(.+:\d+:\d+\)/, "output contains a stack trace");
}

test("help, version and usage errors", () => {
  const help = rp(["--help"]);
  assert.equal(help.code, 0);
  for (const cmd of ["compile", "check", "lint", "diff", "fmt", "test", "explain", "keygen", "sign", "verify", "serve"]) {
    assert.match(help.stdout, new RegExp(`\\n  ${cmd} `));
    const h = rp([cmd, "--help"]);
    assert.equal(h.code, 0, cmd);
    assert.match(h.stdout, /usage: routeplane /);
  }
  const unknown = rp(["compiel"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command `compiel`/);
  const missing = rp(["compile", "examples/support"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /compile needs -o/);
  const badFlag = rp(["check", "examples/support", "--frobnicate"]);
  assert.equal(badFlag.code, 2);
  const nofile = rp(["check", "does/not/exist"]);
  assert.equal(nofile.code, 2);
  assert.match(nofile.stderr, /no such file or directory: does\/not\/exist/);
  for (const r of [unknown, missing, badFlag, nofile]) noStackTrace(r.stderr);
});

test("compile writes a reproducible bundle; keygen, sign and verify; a changed byte fails", () => {
  const dir = workdir();
  const a = rp(["compile", "examples/support", "-o", "a.json"], dir);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /wrote a.json: policy support, revision sha256:/);
  assert.equal(rp(["compile", "examples/support", "-o", "b.json"], dir).code, 0);
  assert.equal(readFileSync(path.join(dir, "a.json"), "utf8"), readFileSync(path.join(dir, "b.json"), "utf8"));

  assert.equal(rp(["keygen", "--out", "team"], dir).code, 0);
  assert.equal(rp(["keygen", "--out", "team"], dir).code, 2); // refuses to overwrite
  assert.equal(rp(["keygen", "--out", "other"], dir).code, 0);
  const unsigned = rp(["verify", "a.json", "--pub", "team.pub"], dir);
  assert.equal(unsigned.code, 1);
  assert.match(unsigned.stderr, /no signature/);
  assert.equal(rp(["sign", "a.json", "--key", "team.key"], dir).code, 0);
  const ok = rp(["verify", "a.json", "--pub", "team.pub"], dir);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok, revision sha256:/);
  const wrongKey = rp(["verify", "a.json", "--pub", "other.pub"], dir);
  assert.equal(wrongKey.code, 1);
  assert.match(wrongKey.stderr, /not among the trusted keys/);

  // Signed at compile time too, and identical to compile-then-sign.
  assert.equal(rp(["compile", "examples/support", "-o", "c.json", "--key", "team.key"], dir).code, 0);
  assert.equal(readFileSync(path.join(dir, "a.json"), "utf8"), readFileSync(path.join(dir, "c.json"), "utf8"));

  const text = readFileSync(path.join(dir, "a.json"), "utf8");
  const pos = text.indexOf('"priority":400') + 12;
  writeFileSync(path.join(dir, "a.json"), text.slice(0, pos) + "1" + text.slice(pos + 1));
  const tampered = rp(["verify", "a.json", "--pub", "team.pub"], dir);
  assert.equal(tampered.code, 1);
  noStackTrace(tampered.stderr);
});

test("diagnostics: code frame on stderr, JSON with --format json, exit 1", () => {
  const dir = workdir();
  writeFileSync(path.join(dir, "bad.route"), 'package bad\nmodel m { provider: openai, endpoint: "http://m/v1" }\nsignal keyword urgent { any: ["now"] }\nroute r priority 1 { when urgnt; use m }\n');
  const text = rp(["check", "bad.route"], dir);
  assert.equal(text.code, 1);
  assert.match(text.stderr, /error\[RP0204\]: undefined signal `urgnt`\n  --> bad.route:4:27\n/);
  assert.match(text.stderr, /\^\^\^\^\^/);
  assert.match(text.stderr, /help: did you mean `urgent`\?/);
  const json = rp(["check", "bad.route", "--format", "json"], dir);
  assert.equal(json.code, 1);
  const parsed = JSON.parse(json.stdout);
  assert.deepEqual(parsed.diagnostics.map((d: { code: string; line: number; column: number }) => [d.code, d.line, d.column]), [["RP0204", 4, 27]]);
  assert.equal(parsed.diagnostics[0].fix.replacement, "urgent");
  const compiled = rp(["compile", "bad.route", "-o", "out.json"], dir);
  assert.equal(compiled.code, 1);
  assert.equal(spawnSync("test", ["-e", path.join(dir, "out.json")]).status, 1, "no bundle written on error");
});

test("fmt: --check reports, fmt rewrites, a file with syntax errors is left alone", () => {
  const dir = workdir();
  cpSync(path.join(REPO, "test/golden/fmt/messy.route"), path.join(dir, "examples/messy.route"));
  const messy = path.join(dir, "examples/messy.route");
  const before = readFileSync(messy, "utf8");
  const check = rp(["fmt", "--check", "examples"], dir);
  assert.equal(check.code, 1);
  assert.equal(check.stdout.trim(), "examples/messy.route: not formatted");
  assert.equal(readFileSync(messy, "utf8"), before);
  assert.equal(rp(["fmt", "examples"], dir).code, 0);
  assert.equal(readFileSync(messy, "utf8"), readFileSync(path.join(REPO, "test/golden/fmt/messy.formatted.route"), "utf8"));
  assert.equal(rp(["fmt", "--check", "examples"], dir).code, 0);

  const broken = path.join(dir, "broken.route");
  const brokenText = "package b\nroute r priority { when x use m }\nsignal   keyword x { any: [\"a\"] }\n";
  writeFileSync(broken, brokenText);
  const r = rp(["fmt", "broken.route"], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not formatted: fix the syntax errors first/);
  assert.equal(readFileSync(broken, "utf8"), brokenText);
});

test("test: the examples pass; a failing expectation prints the decision trace", () => {
  for (const ex of ["support", "coding", "platform"]) {
    const r = rp(["test", `examples/${ex}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^6 passed, 0 failed$/m);
  }
  const dir = workdir();
  const file = path.join(dir, "examples/support/main.route");
  writeFileSync(file, readFileSync(file, "utf8").replace("expect route private, model qwen_local, plugins [redact]", "expect route private, model gpt_4o"));
  const r = rp(["test", "examples/support"], dir);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL {2}a card number stays on-prem/);
  assert.match(r.stdout, /expected model gpt_4o, got qwen_local/);
  assert.match(r.stdout, /✓ private/);
  assert.match(r.stdout, /^5 passed, 1 failed$/m);
});

test("explain: from sources or from a bundle, text or JSON", () => {
  const dir = workdir();
  writeFileSync(path.join(dir, "req.json"), JSON.stringify({ body: { model: "any", messages: [{ role: "user", content: "urgent: the app is down" }] }, headers: { "X-Tenant": "acme" } }));
  const r = rp(["explain", "examples/support", "--request", "req.json"], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^route escalate \(priority 100\) → model gpt_4o/);
  assert.match(r.stdout, /fallbacks: gpt_4o_mini/);
  assert.equal(rp(["compile", "examples/support", "-o", "b.json"], dir).code, 0);
  const j = rp(["explain", "b.json", "--request", "req.json", "--format", "json"], dir);
  assert.equal(j.code, 0, j.stderr);
  const decision = JSON.parse(j.stdout);
  assert.equal(decision.route, "escalate");
  assert.equal(decision.trace.signals.urgent.matched, true);
  writeFileSync(path.join(dir, "bad.json"), "{ nope");
  const bad = rp(["explain", "examples/support", "--request", "bad.json"], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /bad.json is not valid JSON/);
  noStackTrace(bad.stderr);
});

test("lint: clean examples pass; findings fail with annotations; --max-warnings", () => {
  const clean = rp(["lint", "examples/platform"]);
  assert.equal(clean.code, 0, clean.stderr);
  assert.match(clean.stdout, /lint: clean \(7 routes, analysis complete, 7 notes\)/);
  const ambiguous = rp(["lint", "test/diagnostics/cases/RP1003-ambiguous-overlap.route", "--format", "github"]);
  assert.equal(ambiguous.code, 1);
  assert.match(ambiguous.stdout, /^::error file=test\/diagnostics\/cases\/RP1003-ambiguous-overlap\.route,line=8,col=7,endLine=8,endColumn=14,title=RP1003::routes `pro` and `refunds`/m);
  assert.doesNotMatch(ambiguous.stderr, /internal error/, "the witness was confirmed by the engine");
  const shadowed = ["lint", "test/diagnostics/cases/RP1002-shadowed-route.route"];
  assert.equal(rp(shadowed).code, 0, "warnings alone pass");
  const strict = rp([...shadowed, "--max-warnings", "0"]);
  assert.equal(strict.code, 1);
  assert.match(strict.stderr, /1 warning, more than --max-warnings 0/);
  const json = JSON.parse(rp([...shadowed, "--format", "json"]).stdout);
  assert.deepEqual(json.diagnostics.map((d: { code: string }) => d.code), ["RP1002", "RP1015"]);
  assert.deepEqual(json.unconfirmedWitnesses, []);
  assert.equal(rp([...shadowed, "--format", "xml"]).code, 2);
});

test("lint shows an example request for a finding where the signals allow, confirmed by the engine", async () => {
  const r = rp(["lint", "test/diagnostics/cases/RP1008-guarantee-fails.route", "--format", "json"]);
  assert.equal(r.code, 1);
  const [finding] = JSON.parse(r.stdout).diagnostics.filter((d: { code: string }) => d.code === "RP1008");
  assert.deepEqual(finding.example, { body: { messages: [{ role: "user", content: "Hello, about 4111 1111 1111 1111, urgent." }] }, headers: {} });
  const text = rp(["lint", "test/diagnostics/cases/RP1008-guarantee-fails.route"]);
  assert.match(text.stderr, /= example request: \{"body":\{"messages":\[\{"role":"user","content":"Hello, about 4111 1111 1111 1111, urgent\."\}\]\},"headers":\{\}\}/);
  // The example is a real request: the engine, computing every signal from its text, decides it as the finding says.
  const compiled = compile({ readFile: (p) => readFileSync(path.join(REPO, p), "utf8") }, ["test/diagnostics/cases/RP1008-guarantee-fails.route"]);
  const engine = await Engine.load(emitBundle(compiled.checked!, compiled.analysis!));
  const decision = engine.decide(requestFromChat(finding.example.body, finding.example.headers));
  assert.equal(decision.route, "urgent_cases");
  assert.equal(decision.model, "m");
  const sarif = JSON.parse(rp(["lint", "test/diagnostics/cases/RP1008-guarantee-fails.route", "--format", "sarif"]).stdout);
  assert.deepEqual(sarif.runs[0].results.find((x: { ruleId: string }) => x.ruleId === "RP1008").properties.exampleRequest, finding.example);
});

test("lint --format sarif validates against the published SARIF 2.1.0 schema", () => {
  const validate = sarifValidator();
  // Findings with related locations, a did-you-mean fix, and a clean run.
  const cases = [
    ["test/diagnostics/cases/RP1002-shadowed-route.route"],
    ["test/diagnostics/cases/RP0204-undefined-signal.route"],
    ["test/diagnostics/cases/RP1003-ambiguous-overlap.route"],
    ["examples/support"],
  ];
  for (const args of cases) {
    const r = rp(["lint", ...args, "--format", "sarif"]);
    const log = JSON.parse(r.stdout);
    assert.ok(validate(log), `${args.join(" ")}: ${JSON.stringify(validate.errors, null, 2)}`);
  }
  const shadowed = JSON.parse(rp(["lint", cases[0][0], "--format", "sarif"]).stdout);
  const [result] = shadowed.runs[0].results;
  assert.equal(result.ruleId, "RP1002");
  assert.equal(result.level, "warning");
  assert.equal(shadowed.runs[0].tool.driver.rules[result.ruleIndex].id, "RP1002");
  assert.equal(result.locations[0].physicalLocation.artifactLocation.uri, "test/diagnostics/cases/RP1002-shadowed-route.route");
  assert.ok(result.relatedLocations.length > 0, "the winning routes are related locations");
  const typo = JSON.parse(rp(["lint", cases[1][0], "--format", "sarif"]).stdout);
  assert.ok(typo.runs[0].results.some((x: { fixes?: unknown[] }) => x.fixes?.length), "the did-you-mean fix is carried");
  assert.deepEqual(JSON.parse(rp(["lint", "examples/support", "--format", "sarif"]).stdout).runs[0].results.filter((x: { level: string }) => x.level !== "note"), []);
  // The validator is not vacuous: a result without a message is rejected.
  delete shadowed.runs[0].results[0].message;
  assert.equal(validate(shadowed), false);
});

function sarifValidator() {
  const schema = JSON.parse(readFileSync(path.join(REPO, "node_modules/@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8"));
  // The published schema's `language` pattern has a stray `]` that only non-Unicode regular expressions accept.
  const ajv = new ajvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
  return ajv.compile(schema);
}

test("diff and lint on a fixture git repository with two commits", () => {
  const repo = workdir();
  const git = (...args: string[]) => spawnSync("git", args, { cwd: repo, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } });
  assert.equal(git("init", "-q", "-b", "main").status, 0);
  assert.equal(git("add", "-A").status, 0);
  assert.equal(git("commit", "-qm", "policy").status, 0);
  const file = path.join(repo, "examples/support/main.route");
  writeFileSync(file, readFileSync(file, "utf8").replace("when refund or ticket\n  use gpt_4o_mini fallback qwen_local", "when refund or ticket\n  use qwen_local"));
  assert.equal(git("commit", "-qam", "refunds stay local").status, 0);

  const lint = rp(["lint", "examples/support", "--format", "github"], repo);
  assert.equal(lint.code, 0, lint.stderr);
  const diff = rp(["diff", "HEAD~1..HEAD", "examples/support", "--format", "markdown"], repo);
  assert.equal(diff.code, 0, diff.stderr);
  assert.doesNotMatch(diff.stderr, /internal error/);
  assert.match(diff.stdout, /### routeplane: 1 decision change/);
  assert.match(diff.stdout, /\| route refunds → gpt_4o_mini \/ qwen_local \[redact, polite\] \| route refunds → qwen_local \[redact, polite\] \|/);
  const none = rp(["diff", "HEAD..HEAD", "examples/support"], repo);
  assert.equal(none.stdout.trim(), "no decision changes");
  const bad = rp(["diff", "nope..HEAD", "examples/support"], repo);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /cannot read revision `nope`/);
});

test("npm start: serve --demo routes sample requests through a live sidecar, stops cleanly on SIGTERM", async () => {
  const dir = workdir();
  const child = spawn(process.execPath, [MAIN, "serve", "--policy", path.join(REPO, "examples/support"), "--demo", "--listen", "127.0.0.1:0"], { cwd: dir, env: { ...process.env, NO_COLOR: "1" } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c));
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const deadline = Date.now() + 30_000;
  while (!stdout.includes("Try it yourself") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.match(stdout, /200 route=private model=qwen_local\n  reply: \[Qwen\/Qwen3-8B\] you said: my card is \[CREDIT_CARD\]/);
  assert.match(stdout, /403 route=contain model=none\n  error: request rejected: it looks like a jailbreak attempt/);
  const url = /listening on (http:\/\/[^ ]+)/.exec(stderr)![1];
  const res = await fetch(`${url}/v1/models`);
  assert.equal(res.status, 200);
  child.kill("SIGTERM");
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /shutting down/);
  noStackTrace(stderr);
  const events = readFileSync(path.join(dir, "routeplane-telemetry.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => e.route), ["private", "contain", "default"]);
});

test("serve --policy recompiles when a .route file changes; a broken edit keeps the running policy", async () => {
  const dir = workdir();
  const policy = path.join(dir, "examples/support");
  const child = spawn(process.execPath, [MAIN, "serve", "--policy", policy, "--listen", "127.0.0.1:0"], { cwd: dir, env: { ...process.env, NO_COLOR: "1" } });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const until = async (what: string, ok: () => Promise<boolean> | boolean) => {
    const deadline = Date.now() + 20_000;
    while (!(await ok())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await until("the sidecar to listen", () => /listening on http/.test(stderr));
  const url = /listening on (http:\/\/[^ ;]+)/.exec(stderr)![1];
  const revision = async () => ((await (await fetch(`${url}/readyz`)).json()) as { revision: string }).revision;
  const first = await revision();
  const main = path.join(policy, "main.route");
  const source = readFileSync(main, "utf8");
  writeFileSync(main, source.replace("default { use qwen_local; apply polite }", "default { use llama_local; apply polite }"));
  await until("a new revision", async () => (await revision()) !== first);
  const second = await revision();
  writeFileSync(main, source.replace("default {", "default { use nope;"));
  await until("the error report", () => /keeping the running one/.test(stderr));
  assert.equal(await revision(), second, "the broken edit did not replace the running policy");
  assert.match(stderr, /RP0\d{3}/);
  child.kill("SIGTERM");
  assert.equal(await exited, 0);
});

test("serve: usage errors name the fix", () => {
  const none = rp(["serve"]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /exactly one of --bundle <bundle.json>, --controller <url> --policy-ref <namespace>\/<name>, or --policy <dir>/);
  const unverifiable = rp(["serve", "--bundle", "b.json"]);
  assert.equal(unverifiable.code, 2);
  assert.match(unverifiable.stderr, /--bundle needs at least one --public-key/);
  const both = rp(["serve", "--policy", "examples/support", "--demo", "--upstream", "http://127.0.0.1:1/v1"]);
  assert.equal(both.code, 2, "a usage error exits at once, with nothing started");
  assert.match(both.stderr, /give --demo or --upstream, not both/);
  const listen = rp(["serve", "--policy", "examples/support", "--listen", "nope"]);
  assert.equal(listen.code, 2);
  assert.match(listen.stderr, /--listen takes \[host:\]port/);
  const missingCa = rp(["serve", "--policy", "examples/support", "--upstream-ca", "no-such-ca.pem"]);
  assert.equal(missingCa.code, 2);
  assert.match(missingCa.stderr, /cannot read upstream CA file no-such-ca.pem: ENOENT/);
  const notPem = rp(["serve", "--policy", "examples/support", "--upstream-ca", "package.json"]);
  assert.equal(notPem.code, 2);
  assert.match(notPem.stderr, /--upstream-ca package.json holds no PEM certificate/);
});

test("serve: a port in use is a clear error and a prompt exit, not a hang", async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
  const { port } = busy.address() as AddressInfo;
  try {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [MAIN, "serve", "--policy", "examples/support", "--listen", `127.0.0.1:${port}`], { cwd: REPO, env: { ...process.env, NO_COLOR: "1" } });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c));
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`));
    noStackTrace(r.stderr);
  } finally {
    busy.close();
  }
});

test("controller: --tls-cert files that cannot be served are a usage error naming the flag, before anything starts", async () => {
  const { makeServingCertificate } = await import("../controller/index.ts");
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-cli-tls-"));
  workdirs.push(dir);
  const [a, b] = [makeServingCertificate(["localhost"]), makeServingCertificate(["localhost"])];
  const files = { cert: path.join(dir, "tls.crt"), key: path.join(dir, "tls.key"), ca: path.join(dir, "ca.crt") };
  writeFileSync(files.cert, a.certPem);
  writeFileSync(files.key, b.keyPem);
  writeFileSync(files.ca, a.caPem);
  const r = rp(["controller", "--listen", "127.0.0.1:0", "--tls-cert", files.cert, "--tls-key", files.key, "--tls-ca", files.ca]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /the key in --tls-key .*tls\.key does not belong to the certificate in --tls-cert .*tls\.crt; give a certificate, its key and the CA that issued it/);
  noStackTrace(r.stderr);
});

test("demo compiles the embedded policy and explains sample requests", () => {
  const r = rp(["demo"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /compiled policy `support`/);
  assert.match(r.stdout, /route private \(priority 300\) → model qwen_local/);
  assert.match(r.stdout, /route contain \(priority 400\) → blocked \(403\)/);
  assert.match(r.stdout, /route default → model qwen_local/);
});

test("controller: limits and the ConfigMap selector are checked before anything starts, naming the flag", () => {
  for (const [args, message] of [
    [["--compile-timeout", "soon"], /--compile-timeout takes a positive number of seconds, not "soon"/],
    [["--compile-timeout", "0"], /--compile-timeout takes a positive number of seconds, not "0"/],
    [["--compile-timeout=-5"], /--compile-timeout takes a positive number of seconds, not "-5"/],
    // Past 2^31-1 ms Node's timers fire at once: every compile would time out immediately.
    [["--compile-timeout", "2147484"], /--compile-timeout is at most 2147483 seconds \(about 24 days\), not 2147484/],
    [["--compile-timeout", "1e10"], /--compile-timeout takes a positive number of seconds, not "1e10"/],
    [["--compile-memory", "0"], /--compile-memory takes a positive number of MB, not "0"/],
    [["--configmap-selector", "tier in (gold)"], /--configmap-selector takes labels like key=value\[,key2=value2\], not "tier in \(gold\)"/],
  ] as const) {
    const r = rp(["controller", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    noStackTrace(r.stderr);
  }
});
