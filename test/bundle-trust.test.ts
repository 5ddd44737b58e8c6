// Issue 11, "trust under hostile input", for bundles: a bundle is activated
// only if it is exactly what was signed, current, of the policy this sidecar
// serves, and loadable by the engine; the compiler never signs an unproved
// guarantee unless told to.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  computeRevision, generateKeyPair, readBundle, serializeBundle, signBundle, verifyBundleSignature, type Bundle,
} from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore } from "../runtime/index.ts";
import { bufferIo } from "../cli/io.ts";
import { run } from "../cli/run.ts";
import { defaultSerial } from "../cli/policy-commands.ts";
import { startServe } from "../cli/serve-command.ts";

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-trust-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const POLICY = `package trust

model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1", tags: [onprem] }
model cloud { provider: openai_compatible, endpoint: "http://127.0.0.1:9/v1" }
signal keyword urgent { any: ["urgent"] }
signal regex ticket { pattern: "T-[0-9]+" }
route fast priority 10 { when urgent or ticket; use cloud }
default { use local }
`;

function compileText(text: string, options: Parameters<typeof compile>[2] = {}): Bundle {
  const r = compile(memoryHost({ "p.route": text }), ["p.route"], options);
  assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return r.bundle;
}

/** Recomputes the revision after an edit, as a signer with the key would before signing. */
function resealed(bundle: Bundle, edit: (b: Bundle) => void): Bundle {
  const copy = structuredClone(bundle);
  edit(copy);
  copy.manifest.revision = computeRevision(copy.policy, copy.verification);
  copy.signatures = [];
  return copy;
}

test("a signature whose base64 text was changed in its last character does not verify", () => {
  const keys = generateKeyPair();
  const signed = signBundle(compileText(POLICY), keys.privateKeyPem);
  const value = signed.signatures[0].value;
  assert.match(value, /==$/);
  // An Ed25519 signature is 64 bytes: 86 base64 digits and "==". The last digit carries 4 bits that decoding drops.
  const last = value[85];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const sibling = alphabet[alphabet.indexOf(last) ^ 1];
  assert.deepEqual(Buffer.from(value.slice(0, 85) + sibling + "==", "base64"), Buffer.from(value, "base64"), "the sibling digit decodes to the same bytes");
  for (const changed of [value.slice(0, 85) + sibling + "==", value.slice(0, -2), value + "\n", " " + value, value.replace(/==$/, "")]) {
    const edited: Bundle = { ...signed, signatures: [{ ...signed.signatures[0], value: changed }] };
    // Both layers refuse it: the schema (canonical Ed25519 base64 only) and the signature check itself.
    assert.equal(readBundle(serializeBundle(edited)).ok, false, `signature text ${JSON.stringify(changed)} passed the schema`);
    assert.equal(verifyBundleSignature(edited, [keys.publicKeyPem]).ok, false, `signature text ${JSON.stringify(changed)} verified`);
  }
  assert.equal(verifyBundleSignature(signed, [keys.publicKeyPem]).ok, true);
});

test("the signature covers every part of the bundle, the manifest included: any changed value fails verification", () => {
  const keys = generateKeyPair();
  const signed = signBundle(compileText(POLICY, { serial: 7 }), keys.privateKeyPem);
  // Every leaf outside `signatures`, each changed in turn (strings, numbers, booleans, nulls).
  const leaves: (string | number)[][] = [];
  const walk = (v: unknown, at: (string | number)[]) => {
    if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) walk(child, [...at, Array.isArray(v) ? Number(k) : k]);
    } else leaves.push(at);
  };
  const { signatures: _s, ...payload } = signed;
  walk(payload, []);
  const manifestLeaves = leaves.filter((p) => p[0] === "manifest").map((p) => p.join("."));
  for (const field of ["manifest.policy", "manifest.package", "manifest.revision", "manifest.serial", "manifest.rollback", "manifest.compiler.version", "manifest.sources.0.sha256", "format"]) {
    assert.ok(manifestLeaves.includes(field) || field === "format", `${field} is walked`);
  }
  assert.ok(leaves.length > 40, `${leaves.length} leaves`);
  for (const at of leaves) {
    const edited = structuredClone(signed) as unknown as Record<string | number, unknown>;
    let parent = edited;
    for (const k of at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const key = at.at(-1)!;
    const v = parent[key];
    parent[key] = typeof v === "string" ? v + "x" : typeof v === "number" ? v + 1 : typeof v === "boolean" ? !v : 0;
    assert.equal(verifyBundleSignature(edited as unknown as Bundle, [keys.publicKeyPem]).ok, false, `a change to ${at.join(".")} is not covered by the signature`);
  }
  // Fields the revision does not hash (the manifest) pass readBundle when changed, so only the signature catches them.
  const renamed = structuredClone(signed);
  renamed.manifest.policy = "another";
  renamed.manifest.serial = 8;
  const read = readBundle(serializeBundle(renamed));
  assert.ok(read.ok, "a manifest edit keeps the bundle readable");
  assert.match(JSON.stringify(verifyBundleSignature(renamed, [keys.publicKeyPem])), /bad-signature/);
});

/** A bundle the schema accepts but the decision engine cannot build, validly signed. */
function unloadable(keys: { privateKeyPem: string }, how: "undefined-signal" | "invalid-regex", serial = 5): Bundle {
  return signBundle(resealed(compileText(POLICY, { serial }), (b) => {
    if (how === "undefined-signal") b.policy.routes[0].when = { op: "signal", signal: "nowhere" };
    else b.policy.signals.find((s) => s.name === "ticket")!.config.pattern = "T-[0-9";
  }), keys.privateKeyPem);
}

test("a validly signed bundle the engine cannot load is rejected and counted, never a crash: on offer, at start-up, on reload", async () => {
  const keys = generateKeyPair();
  const dir = tempDir();
  const good = signBundle(compileText(POLICY, { serial: 1 }), keys.privateKeyPem);
  for (const how of ["undefined-signal", "invalid-regex"] as const) {
    const bad = unloadable(keys, how);
    assert.ok(readBundle(serializeBundle(bad)).ok, "schema, form and revision pass");
    assert.equal(verifyBundleSignature(bad, [keys.publicKeyPem]).ok, true);
    const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
    assert.equal(await store.offer(serializeBundle(good), "good"), null);
    const reason = await store.offer(serializeBundle(bad), how);
    assert.match(reason ?? "", /the decision engine cannot load the bundle/);
    assert.equal(store.rejections, 1);
    assert.equal(store.current?.bundle.manifest.revision, good.manifest.revision, "the last good bundle stays active");
  }

  // Start-up: an unloadable last-known-good copy and an unloadable bundle file are rejections; nothing is active, nothing throws.
  const file = path.join(dir, "bundle.json");
  writeFileSync(file, serializeBundle(unloadable(keys, "invalid-regex")));
  const restarted = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
  writeFileSync(path.join(dir, "last-known-good.bundle.json"), serializeBundle(unloadable(keys, "undefined-signal")));
  assert.equal(await restarted.restoreLastGood(), false);
  await restarted.watchFile(file);
  cleanups.push(() => restarted.close());
  assert.equal(restarted.current as unknown, null);
  assert.equal(restarted.rejections, 2);

  // Reload: the watcher's reload of an unloadable bundle settles (no unhandled rejection) and keeps the active bundle.
  writeFileSync(file, serializeBundle(good));
  await waitFor(() => restarted.current !== null);
  await restarted.settled();
  writeFileSync(file, serializeBundle(unloadable(keys, "invalid-regex", 9)));
  await waitFor(() => restarted.rejections >= 3);
  await restarted.settled();
  assert.equal(restarted.current?.bundle.manifest.revision, good.manifest.revision);
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("the last known good is best effort: an unusable state directory is reported and counted, and the bundle is active all the same", async () => {
  const keys = generateKeyPair();
  const dir = tempDir();
  const notADir = path.join(dir, "file");
  writeFileSync(notADir, "a file where the state directory should be");
  const errors: string[] = [];
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: path.join(notADir, "state"), onPersistError: (e) => errors.push(e) });
  const v1 = signBundle(compileText(POLICY, { serial: 1 }), keys.privateKeyPem);
  assert.equal(await store.offer(serializeBundle(v1), "v1"), null);
  assert.equal(store.current?.bundle.manifest.revision, v1.manifest.revision);
  assert.equal(store.persistFailures, 1);
  assert.equal(store.rejections, 0);
  assert.match(errors[0], /cannot keep the last known good bundle in .*state\/last-known-good\.bundle\.json: ENOTDIR/);

  // On a hot reload too: the reload settles, the new bundle is active.
  const file = path.join(dir, "bundle.json");
  writeFileSync(file, serializeBundle(v1));
  await store.watchFile(file);
  cleanups.push(() => store.close());
  const v2 = signBundle(compileText(POLICY.replace("T-[0-9]+", "TICKET-[0-9]+"), { serial: 2 }), keys.privateKeyPem);
  writeFileSync(file, serializeBundle(v2));
  await waitFor(() => store.current?.bundle.manifest.revision === v2.manifest.revision);
  await store.settled();
  assert.equal(store.persistFailures, 2);
});

test("restoring the last known good re-verifies it: a state file not signed by a trusted key, or edited, is not activated", async () => {
  const keys = generateKeyPair();
  const stranger = generateKeyPair();
  const dir = tempDir();
  const lkg = path.join(dir, "last-known-good.bundle.json");
  const bundle = compileText(POLICY, { serial: 3 });
  const cases: [string, string, RegExp][] = [
    ["unsigned", serializeBundle(bundle), /no signature/],
    ["signed by an untrusted key", serializeBundle(signBundle(bundle, stranger.privateKeyPem)), /not among the trusted keys/],
    ["edited after signing", serializeBundle(signBundle(bundle, keys.privateKeyPem)).replace('"serial":3', '"serial":4'), /does not match the bundle's content/],
  ];
  for (const [what, text, why] of cases) {
    writeFileSync(lkg, text);
    const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
    assert.equal(await store.restoreLastGood(), false, what);
    assert.equal(store.current, null, what);
    assert.match(store.rejection?.reason ?? "", why, what);
    assert.match(store.rejection?.source ?? "", /last known good/);
  }
  writeFileSync(lkg, serializeBundle(signBundle(bundle, keys.privateKeyPem)));
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
  assert.equal(await store.restoreLastGood(), true);
  assert.equal(readFileSync(lkg, "utf8"), serializeBundle(signBundle(bundle, keys.privateKeyPem)));
});

test("replay and swap: a sidecar serves one policy and never goes backwards in release order, except by a signed rollback of the same serial", async () => {
  const keys = generateKeyPair();
  const dir = tempDir();
  const text = (n: number) => POLICY.replace("T-[0-9]+", `T${n}-[0-9]+`);
  const b = (n: number, serial: number, rollback = false, policyName?: string) => serializeBundle(signBundle(compileText(text(n), { serial, rollback, policyName }), keys.privateKeyPem));
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });

  assert.equal(await store.offer(b(1, 10), "v10"), null);
  assert.equal(await store.offer(b(2, 20), "v20"), null);
  assert.equal(await store.offer(b(2, 20), "v20 again"), null, "the active bundle offered again is no change");
  assert.equal(store.rejections, 0);
  // Replays: an older bundle, or another bundle at the same place.
  assert.match((await store.offer(b(1, 10), "v10 replayed"))!, /\(serial 10, sha256:.{12}…\) does not come after the active bundle \(serial 20,/);
  assert.match((await store.offer(b(3, 20), "another v20"))!, /does not come after/);
  // Swap: a bundle of another policy signed by the same key.
  assert.match((await store.offer(b(4, 99, false, "billing"), "billing"))!, /the bundle is of policy "billing", but this sidecar serves policy "trust"/);
  assert.equal(store.rejections, 3);
  assert.equal(store.current?.bundle.manifest.serial, 20);

  // A signed rollback takes the place of serial 20 (older content), once; the bundle it replaced cannot come back.
  assert.equal(await store.offer(b(1, 20, true), "rollback of 20"), null);
  assert.equal(store.current?.bundle.manifest.rollback, true);
  assert.match((await store.offer(b(2, 20), "v20 replayed"))!, /does not come after the active bundle \(serial 20 rollback/);
  assert.match((await store.offer(b(5, 20, true), "a second rollback of 20"))!, /does not come after/);
  assert.match((await store.offer(b(1, 19, true), "a rollback of an older place"))!, /does not come after/);
  // The next release goes on from there; the rollback cannot be replayed over it.
  assert.equal(await store.offer(b(6, 21), "v21"), null);
  assert.match((await store.offer(b(1, 20, true), "rollback replayed"))!, /does not come after/);

  // Offers made at once are decided one after the other: the older one cannot land after the newer one's check.
  const racing = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  const raced = await Promise.all([racing.offer(b(2, 20), "v20"), racing.offer(b(1, 10), "v10, offered while v20 loads")]);
  assert.equal(raced[0], null);
  assert.match(raced[1] ?? "", /does not come after/);
  assert.equal(racing.current?.bundle.manifest.serial, 20);

  // A restart remembers both the policy and the place (the last known good): the older bundle file is refused.
  const restarted = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
  assert.equal(await restarted.restoreLastGood(), true);
  assert.match((await restarted.offer(b(2, 20), "v20 after restart"))!, /does not come after the active bundle \(serial 21/);
  assert.match((await restarted.offer(b(7, 30, false, "billing"), "billing after restart"))!, /serves policy "trust"/);
  assert.equal(restarted.current?.bundle.manifest.serial, 21);

  // A configured policy identity (serve --expect-policy) refuses any other from the first bundle on, and the last known good too.
  const pinned = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir, policy: "billing" });
  assert.equal(await pinned.restoreLastGood(), false);
  assert.match(pinned.rejection?.reason ?? "", /serves policy "billing" \(--expect-policy\)/);
  assert.equal(await pinned.offer(b(8, 1, false, "billing"), "billing"), null);
});

test("a bundle recording a failed or unproved guarantee is refused unless the sidecar allows unproved ones (failed: never)", async () => {
  const keys = generateKeyPair();
  const guarded = `${POLICY}
guarantee "tickets stay local" {
  when ticket
  require model == local
}
`;
  // The guarantee is false (tickets go to the cloud), so compiling it is an error (RP1008); the records below are what a hand-made bundle could say.
  assert.ok(compile(memoryHost({ "p.route": guarded }), ["p.route"]).diagnostics.some((d) => d.code === "RP1008"));
  const withRecord = (status: "proved" | "failed" | "unchecked", serial: number) =>
    serializeBundle(signBundle(resealed(compileText(POLICY, { serial }), (b) => {
      b.verification.guarantees = [{ name: "tickets stay local", status, detail: "…" }];
    }), keys.privateKeyPem));
  const strict = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  assert.match((await strict.offer(withRecord("unchecked", 1), "unproved"))!, /records unproved guarantees \("tickets stay local": compiled with --allow-unproved\); start the sidecar with --allow-unproved/);
  assert.match((await strict.offer(withRecord("failed", 2), "failed"))!, /records failed guarantees \("tickets stay local"\)/);
  assert.equal(await strict.offer(withRecord("proved", 3), "proved"), null);
  const lenient = new BundleStore({ trustedKeys: [keys.publicKeyPem], allowUnproved: true });
  assert.equal(await lenient.offer(withRecord("unchecked", 1), "unproved"), null);
  assert.match((await lenient.offer(withRecord("failed", 2), "failed"))!, /no flag accepts a guarantee known not to hold/);
  // Policies compiled in process (serve --policy) are held to the same rule.
  assert.match((await strict.offer(withRecord("unchecked", 4), "in process", { requireSignature: false }))!, /unproved/);
});

test("compile fails closed when the analysis budget leaves a guarantee unproved (RP1017); --allow-unproved signs it as unchecked, and says so", () => {
  const file = path.join(import.meta.dirname, "diagnostics/cases/RP1017-guarantee-not-proved.route");
  const host = memoryHost({ "p.route": readFileSync(file, "utf8") });
  const strict = compile(host, ["p.route"]);
  assert.deepEqual(strict.diagnostics.map((d) => `${d.severity} ${d.code}`), ["warning RP1009", "error RP1017"]);
  assert.equal(strict.bundle, null);
  const allowed = compile(host, ["p.route"], { allowUnproved: true });
  assert.deepEqual(allowed.diagnostics.map((d) => `${d.severity} ${d.code}`), ["warning RP1009", "warning RP1017"]);
  assert.ok(allowed.bundle);
  assert.deepEqual(allowed.bundle.verification.guarantees.map((g) => [g.name, g.status]), [["PII stays on-prem", "unchecked"]]);
  const check = allowed.bundle.verification.checks.find((c) => c.name === "guarantees");
  assert.equal(check?.status, "unchecked");
  assert.match(check?.detail ?? "", /not proved: "PII stays on-prem"; compiled with --allow-unproved/);
  // A policy whose guarantees are proved records that too.
  const proved = compileText(`${POLICY}\nguarantee "urgent goes to the cloud" {\n  when urgent\n  require model == cloud\n}\n`);
  assert.deepEqual(proved.verification.checks.at(-1), { name: "guarantees", status: "passed", detail: "every guarantee was proved" });
});

test("compile --serial/--rollback/--allow-unproved; the default serial comes from $SOURCE_DATE_EPOCH or the sources' last git commit, so the same sources give the same bytes", async () => {
  const dir = tempDir();
  const src = path.join(dir, "p.route");
  writeFileSync(src, POLICY);
  const out = (name: string) => path.join(dir, name);
  const rp = async (...args: string[]) => {
    const io = bufferIo();
    const code = await run(args, io);
    return { code, ...io };
  };
  const a = await rp("compile", src, "-o", out("a.json"), "--serial", "42");
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stdout, /serial 42 \(--serial\)/);
  const bundle = JSON.parse(readFileSync(out("a.json"), "utf8")) as Bundle;
  assert.deepEqual([bundle.manifest.serial, bundle.manifest.rollback], [42, false]);
  assert.equal((await rp("compile", src, "-o", out("b.json"), "--serial", "42")).code, 0);
  assert.equal(readFileSync(out("a.json"), "utf8"), readFileSync(out("b.json"), "utf8"), "same sources and serial, same bytes");
  const rollback = await rp("compile", src, "-o", out("r.json"), "--serial", "42", "--rollback");
  assert.match(rollback.stdout, /serial 42 \(rollback\)/);
  assert.equal((JSON.parse(readFileSync(out("r.json"), "utf8")) as Bundle).manifest.rollback, true);
  for (const [args, why] of [
    [["--rollback"], /--rollback needs --serial N/],
    [["--serial=-1"], /--serial must be a whole number from 0 to 9007199254740991, not "-1"/],
    [["--serial", "1e3"], /whole number/],
    [["--serial", "9007199254740992"], /whole number/],
  ] as const) {
    const r = await rp("compile", src, "-o", out("x.json"), ...args);
    assert.equal(r.code, 2, args.join(" "));
    assert.match(r.stderr, why);
  }

  // Fail closed at the command line too: exit 1 and no file, unless --allow-unproved.
  const unproved = path.join(import.meta.dirname, "diagnostics/cases/RP1017-guarantee-not-proved.route");
  const refused = await rp("compile", unproved, "-o", out("u.json"), "--serial", "1");
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /error\[RP1017\]/);
  assert.throws(() => readFileSync(out("u.json")));
  const allowed = await rp("compile", unproved, "-o", out("u.json"), "--serial", "1", "--allow-unproved");
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stderr, /warning\[RP1017\]/);

  // The default: $SOURCE_DATE_EPOCH, else the commit time of the last commit that touched the sources, else 0.
  assert.deepEqual(defaultSerial([src], { SOURCE_DATE_EPOCH: "1700000000" }), { serial: 1700000000, from: "$SOURCE_DATE_EPOCH" });
  assert.equal(defaultSerial([src], {}).serial, 0, "not a git checkout");
  const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.com", ...args], { cwd: dir, env: { ...process.env, GIT_COMMITTER_DATE: "1712345678 +0000", GIT_AUTHOR_DATE: "1712345678 +0000" } });
  git("init", "-q");
  git("add", "p.route");
  git("commit", "-q", "-m", "policy");
  assert.deepEqual(defaultSerial([src], {}), { serial: 1712345678, from: "the time of the last git commit to the sources" });
  assert.deepEqual(defaultSerial([dir], {}).serial, 1712345678);
});

test("serve: a bundle the engine cannot load at start-up is a logged rejection, not an exit; an unusable state directory is logged and counted; --expect-policy and --allow-unproved reach the store", async () => {
  const keys = generateKeyPair();
  const dir = tempDir();
  writeFileSync(path.join(dir, "team.pub"), keys.publicKeyPem);
  const bundleFile = path.join(dir, "b.json");
  writeFileSync(bundleFile, serializeBundle(unloadable(keys, "undefined-signal")));
  // An unloadable last known good too: the restart that used to exit 1.
  const stateDir = path.join(dir, "state");
  mkdirSync(stateDir);
  writeFileSync(path.join(stateDir, "last-known-good.bundle.json"), serializeBundle(unloadable(keys, "invalid-regex")));
  const io = bufferIo();
  const opts = { bundle: bundleFile, "public-key": [path.join(dir, "team.pub")], "state-dir": stateDir, listen: "127.0.0.1:0", telemetry: path.join(dir, "t.jsonl") };
  const running = await startServe(io, opts);
  assert.notEqual(typeof running, "number");
  if (typeof running === "number") return;
  try {
    assert.equal((await fetch(`${running.url}/readyz`)).status, 503);
    assert.match(io.stderr, /rejected the bundle from .*last known good.*: the decision engine cannot load the bundle/);
    assert.match(io.stderr, /rejected the bundle from .*b\.json: the decision engine cannot load the bundle: bundle condition names undefined signal nowhere/);
    assert.match(await (await fetch(`${running.url}/metrics`)).text(), /routeplane_bundle_rejections_total 2\n/);
  } finally {
    await running.stop();
  }

  // An unusable state directory: the bundle is served, the failure logged and exported as a metric.
  const good = signBundle(compileText(POLICY, { serial: 1 }), keys.privateKeyPem);
  writeFileSync(bundleFile, serializeBundle(good));
  const io1 = bufferIo();
  const served = await startServe(io1, { ...opts, "state-dir": path.join(dir, "team.pub", "state") });
  if (typeof served === "number") assert.fail(io1.stderr);
  try {
    assert.equal((await fetch(`${served.url}/readyz`)).status, 200);
    assert.match(io1.stderr, /routeplane serve: cannot keep the last known good bundle in .*: ENOTDIR .*; the bundle is active, but a restart will not find it/);
    assert.match(await (await fetch(`${served.url}/metrics`)).text(), /routeplane_bundle_persist_failures_total 1\n/);
  } finally {
    await served.stop();
  }

  // --expect-policy refuses a validly signed bundle of another policy; --allow-unproved admits an unproved one.
  const unproved = compile(memoryHost({ "p.route": readFileSync(path.join(import.meta.dirname, "diagnostics/cases/RP1017-guarantee-not-proved.route"), "utf8") }), ["p.route"], { allowUnproved: true, serial: 2 });
  writeFileSync(bundleFile, serializeBundle(signBundle(unproved.bundle!, keys.privateKeyPem)));
  for (const [extra, expect] of [
    [{ "expect-policy": "billing" }, /the bundle is of policy "t", but this sidecar serves policy "billing" \(--expect-policy\)/],
    [{}, /records unproved guarantees/],
    [{ "allow-unproved": true }, /active bundle sha256:.* \(policy t, serial 2,/],
  ] as const) {
    const io2 = bufferIo();
    const r = await startServe(io2, { ...opts, "state-dir": path.join(dir, `state-${Object.keys(extra).join() || "none"}`), ...extra });
    if (typeof r === "number") assert.fail(io2.stderr);
    await r.stop();
    assert.match(io2.stderr, expect);
  }
});

test("a bundle nested deeper than any check can follow is a rejection, never an exception", async () => {
  const store = new BundleStore({ trustedKeys: [generateKeyPair().publicKeyPem] });
  // A real bundle whose first route's condition is 100,000 `not`s deep (made by hand: the compiler refuses it).
  const bundle = compile(memoryHost({ "p.route": 'package deep\nmodel m { provider: vllm, endpoint: "http://m.test/v1" }\nroute r priority 1 { when true; use m }\n' }), ["p.route"]).bundle!;
  const text = serializeBundle(bundle);
  const deep = text.replace('"when":{"op":"true"}', `"when":${'{"arg":'.repeat(100_000)}{"op":"true"}${',"op":"not"}'.repeat(100_000)}`);
  assert.notEqual(deep, text);
  const reason = await store.offer(deep, "deep.json");
  assert.ok(typeof reason === "string" && reason.length > 0, String(reason));
  assert.equal(store.rejections, 1);
  assert.equal(store.current, null);
});

test("canonical JSON refuses a non-finite number anywhere in the value, not only at the top", async () => {
  const { canonicalJson } = await import("../bundle/canonical.ts");
  for (const bad of [NaN, Infinity, { a: NaN }, [1, -Infinity], { a: { b: [Infinity] } }]) assert.throws(() => canonicalJson(bad), /non-finite/, JSON.stringify(bad));
  assert.equal(canonicalJson({ b: 1, a: [0.5, null] }), '{"a":[0.5,null],"b":1}');
});
