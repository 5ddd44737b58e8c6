// The bundle contract: schema, canonical form, revision, signatures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  BUNDLE_SCHEMA, canonicalJson, computeRevision, generateKeyPair, readBundle, serializeBundle, signBundle,
  validateBundle, verifyBundleSignature, type Bundle, checkFeedbackEvent, checkRoutingEvent, FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION,
} from "../bundle/index.ts";
import { compile } from "../compiler/index.ts";
import canonicalizeLib from "canonicalize";
import { collectRouteFiles, fsHost } from "../cli/files.ts";
import { REPO } from "./support/golden.ts";
import { generateEventValidatorsSource, generateFieldValidatorsSource, generateValidatorSource } from "../scripts/validator-source.ts";
import { FIELD_SCHEMAS } from "../compiler/schemas.ts";
import { exportName } from "../compiler/fields.ts";

const canonicalize = canonicalizeLib as unknown as (v: unknown) => string;

function exampleBundle(): Bundle {
  const r = compile(fsHost, collectRouteFiles([path.join(REPO, "examples/support")]));
  assert.ok(r.bundle);
  return r.bundle;
}

test("bundle.schema.json and the generated validator are up to date with bundle/schema.ts", () => {
  const onDisk = JSON.parse(readFileSync(path.join(REPO, "bundle/bundle.schema.json"), "utf8"));
  assert.deepEqual(onDisk, JSON.parse(JSON.stringify(BUNDLE_SCHEMA)), "run `npm run build:schema` and commit the result");
  assert.equal(readFileSync(path.join(REPO, "bundle/validate.generated.js"), "utf8"), generateValidatorSource(), "run `npm run build:schema` and commit the result");
  assert.equal(readFileSync(path.join(REPO, "compiler/fields.generated.js"), "utf8"), generateFieldValidatorsSource(FIELD_SCHEMAS, exportName), "run `npm run build:schema` and commit the result");
  assert.equal(readFileSync(path.join(REPO, "bundle/events.generated.js"), "utf8"), generateEventValidatorsSource(), "run `npm run build:schema` and commit the result");
});

test("telemetry events are checked against their schemas, the problem naming the place", () => {
  const feedback = { schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: "2026-12-03T10:00:00.123Z", requestId: "r1", rating: 0.5, label: null };
  assert.deepEqual(checkFeedbackEvent(feedback), { ok: true, event: feedback });
  assert.deepEqual(checkFeedbackEvent({ ...feedback, rating: 3 }), { ok: false, problem: "/rating: must be <= 1" });
  assert.deepEqual(checkFeedbackEvent({ ...feedback, time: "yesterday" }), { ok: false, problem: '/time: must match format "date-time"' });
  assert.equal(checkFeedbackEvent("not an object").ok, false);
  const routing = checkRoutingEvent({ schema: ROUTING_EVENT_SCHEMA_VERSION, requestId: "r1" });
  assert.equal(routing.ok, false);
  assert.match(routing.ok ? "" : routing.problem, /^\/: must have required property/);
});

test("compiled bundles validate; broken ones are rejected with a JSON pointer", () => {
  const b = exampleBundle();
  assert.equal(validateBundle(JSON.parse(JSON.stringify(b))).ok, true);
  const broken = JSON.parse(JSON.stringify(b));
  broken.policy.routes[0].when = { op: "xor", args: [] };
  broken.policy.signals[0].config.any = "urgent";
  const r = validateBundle(broken);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.ok(r.errors.some((e) => e.path.startsWith("/policy/routes/0/when")));
    assert.ok(r.errors.some((e) => e.path.startsWith("/policy/signals/0")));
  }
});

test("canonical JSON sorts keys and matches the RFC 8785 reference implementation", () => {
  assert.equal(canonicalJson({ b: 1, a: [true, null, "x"], c: { z: 0.5, y: 10 } }), '{"a":[true,null,"x"],"b":1,"c":{"y":10,"z":0.5}}');
  const values: unknown[] = [
    exampleBundle(),
    { "\u00e9": 1, e: 2, E: 3, "😀": [1e21, 1e-7, -0, 0.1 + 0.2, 123456789012345680000], "\n\t\"": "\u2028\u0001é" },
    [[], {}, "", 0, false, null],
  ];
  let seed = 11;
  const rand = (n: number) => ((seed = (seed * 48271) % 2147483647), seed % n);
  const gen = (depth: number): unknown => {
    switch (rand(depth > 3 ? 4 : 6)) {
      case 0: return rand(1000) / (1 + rand(7)) - 50;
      case 1: return String.fromCharCode(...Array.from({ length: rand(6) }, () => rand(0x2fff)));
      case 2: return rand(2) === 0;
      case 3: return null;
      case 4: return Array.from({ length: rand(4) }, () => gen(depth + 1));
      default: return Object.fromEntries(Array.from({ length: rand(5) }, () => [String.fromCharCode(97 + rand(26), rand(0x2fff)), gen(depth + 1)]));
    }
  };
  for (let i = 0; i < 300; i++) values.push(gen(0));
  for (const v of values) assert.equal(canonicalJson(v), canonicalize(v));
});

test("sign then verify; any changed byte fails", () => {
  const keys = generateKeyPair();
  const signed = signBundle(exampleBundle(), keys.privateKeyPem);
  assert.equal(signed.signatures.length, 1);
  assert.equal(signed.signatures[0].keyId, keys.keyId);
  const text = serializeBundle(signed);
  const read = readBundle(text);
  assert.ok(read.ok);
  if (!read.ok) return;
  assert.deepEqual(verifyBundleSignature(read.bundle, [keys.publicKeyPem]), { ok: true, keyId: keys.keyId });

  // Flip bytes at many positions: every change must be caught by form, schema, revision or signature.
  const positions = [10, Math.floor(text.length / 3), Math.floor(text.length / 2), text.length - 20, text.indexOf("urgent") + 1, text.indexOf("priority") + 11];
  for (const pos of positions) {
    const ch = text[pos];
    const replacement = ch === "1" ? "2" : ch === "a" ? "b" : ch === " " ? "_" : /[0-9]/.test(ch) ? "1" : "a";
    const tampered = text.slice(0, pos) + replacement + text.slice(pos + 1);
    const r = readBundle(tampered);
    const ok = r.ok && verifyBundleSignature(r.bundle, [keys.publicKeyPem]).ok;
    assert.equal(ok, false, `change at ${pos} (${JSON.stringify(ch)} → ${replacement}) went unnoticed`);
  }
  // Whitespace is a changed byte too.
  assert.equal(readBundle(text.replace('{"format"', '{ "format"')).ok, false);
});

test("a value changed and re-canonicalized is caught by the revision; with a fixed revision, by the signature", () => {
  const keys = generateKeyPair();
  const signed = signBundle(exampleBundle(), keys.privateKeyPem);
  const edited = JSON.parse(JSON.stringify(signed)) as Bundle;
  edited.policy.routes[0].priority = 9999;
  const r1 = readBundle(serializeBundle(edited));
  assert.equal(r1.ok, false);
  if (!r1.ok) assert.equal(r1.error.kind, "revision-mismatch");
  edited.manifest.revision = computeRevision(edited.policy, edited.verification);
  const r2 = readBundle(serializeBundle(edited));
  assert.ok(r2.ok);
  if (r2.ok) {
    const v = verifyBundleSignature(r2.bundle, [keys.publicKeyPem]);
    assert.equal(v.ok, false);
    if (!v.ok) assert.equal(v.reason, "bad-signature");
  }
});

test("unsigned bundles and unknown keys are rejected with the reason", () => {
  const b = exampleBundle();
  const a = generateKeyPair();
  const other = generateKeyPair();
  const r1 = verifyBundleSignature(b, [a.publicKeyPem]);
  assert.equal(r1.ok ? "ok" : r1.reason, "unsigned");
  const r2 = verifyBundleSignature(signBundle(b, other.privateKeyPem), [a.publicKeyPem]);
  assert.equal(r2.ok ? "ok" : r2.reason, "unknown-key");
  // Two signatures: either trusted key verifies.
  const both = signBundle(signBundle(b, a.privateKeyPem), other.privateKeyPem);
  assert.equal(both.signatures.length, 2);
  assert.equal(verifyBundleSignature(both, [other.publicKeyPem]).ok, true);
});

test("non-JSON and non-canonical files say what is wrong", () => {
  const r = readBundle("{not json");
  assert.equal(r.ok ? "ok" : r.error.kind, "not-json");
  const b = exampleBundle();
  const pretty = JSON.stringify(b, null, 2);
  const r2 = readBundle(pretty);
  assert.equal(r2.ok ? "ok" : r2.error.kind, "not-canonical");
});
