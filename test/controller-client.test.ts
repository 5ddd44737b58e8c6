// `serve --controller`: the sidecar long-polls a controller for its policy's
// bundle (ADR 13). A fake controller on loopback (and one over HTTPS with its
// own CA) speaks the protocol honestly — ETag, If-None-Match, 304 after
// `Prefer: wait`, the NACK header, 401 — and records every request, while the
// real sidecar runs through startServe. Waits are for events, with generous
// deadlines: nothing here times the VM.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  NACK_HEADER, SIDECAR_HEADER, bundleEtag, generateKeyPair, parseBundlePath, parseNackHeader, preferredWait, serializeBundle, signBundle, type Bundle,
} from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, ControllerSubscription, controllerUrlProblem, parsePolicyRef } from "../runtime/sidecar/index.ts";
import { backoffDelay, type ControllerTiming } from "../runtime/sidecar/controller-client.ts";
import { bufferIo } from "../cli/io.ts";
import { run } from "../cli/run.ts";
import { startServe, type ServeOptions } from "../cli/serve-command.ts";

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-subscribe-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const policyText = (word: string) => `package support

model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model cloud { provider: openai_compatible, endpoint: "http://127.0.0.1:9/v1" }
signal keyword urgent { any: ["${word}"] }
route fast priority 10 { when urgent; use cloud }
default { use local }
`;

function bundleText(word: string, serial: number, privateKeyPem: string): { text: string; bundle: Bundle; etag: string } {
  const r = compile(memoryHost({ "p.route": policyText(word) }), ["p.route"], { serial });
  assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  const bundle = signBundle(r.bundle, privateKeyPem);
  const text = serializeBundle(bundle);
  return { text, bundle, etag: bundleEtag(text) };
}

/** Resolves once `probe` returns something (not undefined/false), polling; fails after `ms` naming `what`. */
async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Recorded {
  at: number;
  sidecar: string | undefined;
  authorization: string | undefined;
  ifNoneMatch: string | undefined;
  nack: string | undefined;
  prefer: string | undefined;
  /** The status answered; 0 while the poll is held open. */
  status: number;
  etag?: string;
  /** The client went away before it was answered. */
  aborted: boolean;
}

/** The controller's side of ADR 13, for one policy, kept honest and small. */
class FakeController {
  readonly namespace = "team";
  readonly name = "support";
  requests: Recorded[] = [];
  tokens = new Set(["token-1"]);
  current: { text: string; etag: string } | null = null;
  /** Sidecar id → the ETag it NACKed: not offered to it again. */
  readonly nacked = new Map<string, string>();
  private waiters = new Set<() => void>();
  private server: Server | null = null;
  private readonly tls: { key: Buffer; cert: string } | null;
  port = 0;

  constructor(tls: { key: Buffer; cert: string } | null = null) {
    this.tls = tls;
  }

  get url(): string {
    return `${this.tls ? "https" : "http"}://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    this.server = this.tls ? createHttpsServer(this.tls, handler) : createHttpServer(handler);
    await new Promise<void>((resolve) => this.server!.listen(port, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Goes away: listening socket and every connection, open polls included. */
  async stop(): Promise<void> {
    if (!this.server) return;
    const s = this.server;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    for (const w of this.waiters) w();
  }

  publish(text: string): void {
    this.current = { text, etag: bundleEtag(text) };
    for (const w of [...this.waiters]) w();
  }

  /** Requests from one sidecar. */
  from(sidecar: string): Recorded[] {
    return this.requests.filter((r) => r.sidecar === sidecar);
  }

  /** The poll of a sidecar held open right now. */
  open(sidecar: string): Recorded | undefined {
    return this.from(sidecar).find((r) => r.status === 0 && !r.aborted);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const h = (name: string) => (typeof req.headers[name] === "string" ? (req.headers[name] as string) : undefined);
    const rec: Recorded = { at: Date.now(), sidecar: h(SIDECAR_HEADER), authorization: h("authorization"), ifNoneMatch: h("if-none-match"), nack: h(NACK_HEADER), prefer: h("prefer"), status: 0, aborted: false };
    this.requests.push(rec);
    res.on("close", () => {
      if (!res.writableFinished) rec.aborted = true;
    });
    const error = (status: number, code: string, message: string, retryable: boolean) => {
      rec.status = status;
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error: { code, message, retryable } }));
    };
    const token = /^Bearer (.+)$/.exec(rec.authorization ?? "")?.[1];
    if (!token || !this.tokens.has(token)) return error(401, "unauthenticated", "the token was not accepted", true);
    const ref = parseBundlePath(new URL(req.url ?? "/", "http://x").pathname);
    if (req.method !== "GET" || !ref || ref.namespace !== this.namespace || ref.name !== this.name) return error(404, "not-found", "no such policy", false);
    if (rec.nack !== undefined) {
      const nack = parseNackHeader(rec.nack);
      if (!nack) return error(400, "bad-request", "malformed routeplane-nack", false);
      this.nacked.set(rec.sidecar ?? "", nack.etag);
    }
    const waitMs = preferredWait(rec.prefer) * 1000;
    const deadline = Date.now() + waitMs;
    for (;;) {
      if (!this.current) return error(404, "not-found", "the policy has never compiled", true);
      const offered = this.current;
      const fresh = offered.etag !== rec.ifNoneMatch && this.nacked.get(rec.sidecar ?? "") !== offered.etag;
      if (fresh) {
        rec.status = 200;
        rec.etag = offered.etag;
        res.writeHead(200, { "content-type": "application/json", etag: offered.etag }).end(offered.text);
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0 || rec.aborted || !this.server) break;
      // Held until something is published, the wait is over or the client goes away.
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.waiters.add(wake);
        res.once("close", wake);
      });
      if (rec.aborted || !this.server) return;
    }
    if (rec.aborted) return;
    rec.status = 304;
    res.writeHead(304, { etag: this.current!.etag }).end();
  }
}

const keys = generateKeyPair();
const FAST: Partial<ControllerTiming> = { backoffInitialMs: 20, backoffMaxMs: 200, minIdlePollMs: 50 };

interface Setup {
  dir: string;
  pub: string;
  tokenFile: string;
}

function setup(): Setup {
  const dir = tempDir();
  const pub = path.join(dir, "team.pub");
  writeFileSync(pub, keys.publicKeyPem);
  const tokenFile = path.join(dir, "token");
  writeFileSync(tokenFile, "token-1\n");
  return { dir, pub, tokenFile };
}

async function startFake(tls: { key: Buffer; cert: string } | null = null): Promise<FakeController> {
  const fake = new FakeController(tls);
  await fake.start();
  cleanups.push(() => fake.stop());
  return fake;
}

async function sidecar(s: Setup, fake: FakeController, id: string, extra: Partial<ServeOptions> = {}, timing: Partial<ControllerTiming> = FAST) {
  const io = bufferIo();
  const opts: ServeOptions = {
    controller: fake.url, "policy-ref": `${fake.namespace}/${fake.name}`, "public-key": [s.pub], "token-file": s.tokenFile, "sidecar-id": id,
    "state-dir": path.join(s.dir, `state-${id}`), listen: "127.0.0.1:0", telemetry: path.join(s.dir, `${id}.jsonl`), demo: true, ...extra,
  };
  const running = await startServe(io, opts, { controller: timing });
  if (typeof running === "number") assert.fail(io.stderr);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await running.stop();
  };
  cleanups.push(stop);
  return { url: running.url, io, stop };
}

async function revisionServed(url: string): Promise<string | null> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }) });
  await res.text();
  assert.equal(res.status, 200);
  return res.headers.get("x-routeplane-revision");
}

async function metric(url: string, line: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${line.source} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

test("subscribes: activates the first bundle, ACKs it, wakes on a new one within the poll, NACKs an untrusted and a replayed bundle and keeps serving", async () => {
  const s = setup();
  const fake = await startFake();
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  fake.publish(a.text);
  const sc = await sidecar(s, fake, "pod-a", {}, { ...FAST, waitSeconds: 30 });
  await until("the sidecar to be ready", async () => (await fetch(`${sc.url}/readyz`)).status === 200);
  assert.equal(await revisionServed(sc.url), a.bundle.manifest.revision);

  const first = fake.from("pod-a")[0];
  assert.equal(first.ifNoneMatch, undefined, "a sidecar with no bundle sends no If-None-Match");
  assert.equal(first.authorization, "Bearer token-1");
  assert.equal(first.prefer, "wait=0", "the first poll asks to be answered at once");
  assert.equal(first.status, 200);
  // The ACK: the next poll names the bundle's ETag, and it is held open (long poll).
  const ack = await until("the ACK poll", () => fake.open("pod-a"));
  assert.equal(ack.ifNoneMatch, a.etag);
  assert.equal(ack.nack, undefined);
  assert.equal(ack.prefer, "wait=30");

  // A new release is delivered on the poll already open.
  const b = bundleText("asap", 2, keys.privateKeyPem);
  const published = Date.now();
  fake.publish(b.text);
  await until("revision B to be served", async () => (await revisionServed(sc.url)) === b.bundle.manifest.revision);
  const delivered = fake.from("pod-a").find((r) => r.etag === b.etag)!;
  assert.ok(delivered.at <= published && delivered === ack, "the open poll woke with the new bundle");
  const ackB = await until("the ACK of B", () => fake.from("pod-a").find((r) => r.ifNoneMatch === b.etag));
  assert.equal(ackB.nack, undefined);

  // Signed by a key the sidecar does not trust: NACKed with the reason, B keeps serving.
  const stranger = generateKeyPair();
  const c = bundleText("now", 3, stranger.privateKeyPem);
  fake.publish(c.text);
  const nackC = await until("the NACK of the untrusted bundle", () => fake.from("pod-a").find((r) => r.nack !== undefined));
  const parsedC = parseNackHeader(nackC.nack!);
  assert.ok(parsedC, nackC.nack);
  assert.equal(parsedC.etag, c.etag);
  assert.match(parsedC.reason, /signature/);
  assert.equal(nackC.ifNoneMatch, b.etag, "the NACK goes with the ETag of the bundle still running");
  assert.equal(await revisionServed(sc.url), b.bundle.manifest.revision);
  assert.equal(fake.nacked.get("pod-a"), c.etag);

  // An older release replayed (validly signed): NACKed as out of order.
  fake.publish(a.text);
  const nackA = await until("the NACK of the replayed bundle", () => fake.from("pod-a").find((r) => r.nack !== undefined && parseNackHeader(r.nack)?.etag === a.etag));
  assert.match(parseNackHeader(nackA.nack!)!.reason, /does not come after the active bundle/);
  assert.equal(nackA.ifNoneMatch, b.etag);
  assert.equal(await revisionServed(sc.url), b.bundle.manifest.revision);

  // The next good release clears the NACK.
  const d = bundleText("today", 4, keys.privateKeyPem);
  fake.publish(d.text);
  const ackD = await until("the ACK of D", () => fake.from("pod-a").find((r) => r.ifNoneMatch === d.etag));
  assert.equal(ackD.nack, undefined);
  assert.equal(await revisionServed(sc.url), d.bundle.manifest.revision);

  assert.equal(await metric(sc.url, /routeplane_controller_connected/), 1);
  assert.equal(await metric(sc.url, /routeplane_controller_polls_total\{outcome="accepted"\}/), 3);
  assert.equal(await metric(sc.url, /routeplane_controller_polls_total\{outcome="rejected"\}/), 2);
  assert.equal(await metric(sc.url, /routeplane_controller_polls_total\{outcome="error"\}/), 0);
  const ready = (await (await fetch(`${sc.url}/readyz`)).json()) as { controller: { connected: boolean; policy: string; problem: string | null } };
  assert.deepEqual([ready.controller.connected, ready.controller.policy, ready.controller.problem], [true, "team/support", null]);
  assert.match(sc.io.stderr, /rejected the bundle from controller http:\/\/127\.0\.0\.1:\d+\/v1\/policies\/team\/support\/bundle \(ETag "[0-9a-f]{12}…"\): signature/);
});

test("a restarted sidecar resumes from its last known good bundle: its first poll carries the ETag, nothing is downloaded again", async () => {
  const s = setup();
  const fake = await startFake();
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  fake.publish(a.text);
  const stateDir = path.join(s.dir, "state");
  const one = await sidecar(s, fake, "pod-1", { "state-dir": stateDir });
  await until("the ACK poll", () => fake.open("pod-1"));
  await one.stop();

  const two = await sidecar(s, fake, "pod-2", { "state-dir": stateDir });
  // Ready from the state directory before the controller said anything.
  assert.equal((await fetch(`${two.url}/readyz`)).status, 200);
  assert.equal(await revisionServed(two.url), a.bundle.manifest.revision);
  const first = await until("the first poll of the restarted sidecar", () => fake.from("pod-2")[0]);
  assert.equal(first.ifNoneMatch, a.etag);
  await until("its poll held open", () => fake.open("pod-2"));
  assert.deepEqual(fake.from("pod-2").filter((r) => r.status === 200), [], "no bundle was sent again");
  assert.match(two.io.stderr, new RegExp(`running ETag ${a.etag}`));
});

test("the controller goes away: the sidecar keeps serving, logs the change once, and reconnects when it is back", async () => {
  const s = setup();
  const fake = await startFake();
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  fake.publish(a.text);
  const sc = await sidecar(s, fake, "pod-d");
  await until("the ACK poll", () => fake.open("pod-d"));
  const port = fake.port;
  await fake.stop();

  await until("several failed polls", async () => ((await metric(sc.url, /routeplane_controller_polls_total\{outcome="error"\}/)) ?? 0) >= 6);
  assert.equal(await revisionServed(sc.url), a.bundle.manifest.revision);
  assert.equal(await metric(sc.url, /routeplane_controller_connected/), 0);
  const ready = await fetch(`${sc.url}/readyz`);
  assert.equal(ready.status, 200, "readiness stays with the bundle");
  const detail = (await ready.json()) as { controller: { connected: boolean; problem: string } };
  assert.equal(detail.controller.connected, false);
  assert.match(detail.controller.problem, /cannot reach it: ECONNREFUSED/);
  // A line when the state changes (the open poll cut, then refused connections), not one per retry.
  const lines = sc.io.stderr.split("\n").filter((l) => /routeplane serve: controller .*: cannot reach it/.test(l));
  assert.ok(lines.length >= 1 && lines.length <= 2, lines.join("\n"));
  assert.match(lines.at(-1)!, /ECONNREFUSED.*keeping the active bundle sha256:.*retrying with backoff/);

  const before = fake.requests.length;
  await fake.start(port);
  const back = await until("a poll after the controller is back", () => fake.requests.slice(before).find((r) => r.sidecar === "pod-d"));
  assert.equal(back.ifNoneMatch, a.etag);
  await until("connected again", async () => (await metric(sc.url, /routeplane_controller_connected/)) === 1);
  assert.match(sc.io.stderr, /controller http:\/\/127\.0\.0\.1:\d+\/.* answers again \(after \d+ failed polls since /);
});

test("the token file is read for every poll; a refused token (401) is retried with backoff, without a crash, and logged once", async () => {
  const s = setup();
  const fake = await startFake();
  fake.tokens = new Set(["token-2"]);
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  fake.publish(a.text);
  const sc = await sidecar(s, fake, "pod-t", {}, { ...FAST, waitSeconds: 1 });
  await until("several refused polls", () => fake.from("pod-t").filter((r) => r.status === 401).length >= 4);
  assert.ok(fake.from("pod-t").every((r) => r.authorization === "Bearer token-1"));
  assert.equal((await fetch(`${sc.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${sc.url}/readyz`)).status, 503, "not ready without a bundle");
  const lines = sc.io.stderr.split("\n").filter((l) => /answered 401/.test(l));
  assert.equal(lines.length, 1, sc.io.stderr);
  assert.match(lines[0], /answered 401: the token was not accepted \(the token in .*token was not accepted: audience "routeplane".*\); no bundle is active yet \(not ready\)/);

  // The projected token rotates: the next poll sends the new one.
  writeFileSync(s.tokenFile, "token-2\n");
  await until("the new token", () => fake.from("pod-t").find((r) => r.authorization === "Bearer token-2"));
  await until("the sidecar to be ready", async () => (await fetch(`${sc.url}/readyz`)).status === 200);
  assert.equal(await revisionServed(sc.url), a.bundle.manifest.revision);

  // Rotated again while connected: a 304 ends the held poll (wait 1 s), and the next one carries the newer token.
  fake.tokens.add("token-3");
  writeFileSync(s.tokenFile, "token-3");
  await until("the newer token", () => fake.from("pod-t").find((r) => r.authorization === "Bearer token-3"));
});

test("close() aborts the open poll at once", async () => {
  const s = setup();
  const fake = await startFake();
  fake.publish(bundleText("urgent", 1, keys.privateKeyPem).text);
  const sc = await sidecar(s, fake, "pod-c", {}, { ...FAST, waitSeconds: 60 });
  const held = await until("a poll held open", () => fake.open("pod-c"));
  const started = Date.now();
  await sc.stop();
  // Without the abort the poll would end only after 60 s; 20 s leaves a slow VM plenty of room.
  assert.ok(Date.now() - started < 20_000, `close took ${Date.now() - started} ms`);
  await until("the controller to see the poll go", () => held.aborted);
});

test("over HTTPS with --controller-ca; without the CA the certificate is refused and said so", async () => {
  const s = setup();
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=routeplane-controller", "-addext", "subjectAltName=IP:127.0.0.1"], { cwd: s.dir, stdio: "ignore" });
  const fake = await startFake({ key: readFileSync(path.join(s.dir, "key.pem")), cert: readFileSync(path.join(s.dir, "cert.pem"), "utf8") });
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  fake.publish(a.text);
  const trusted = await sidecar(s, fake, "pod-tls", { "controller-ca": path.join(s.dir, "cert.pem") });
  await until("the sidecar to be ready", async () => (await fetch(`${trusted.url}/readyz`)).status === 200);
  assert.equal(await revisionServed(trusted.url), a.bundle.manifest.revision);

  const untrusted = await sidecar(s, fake, "pod-notls");
  const detail = await until("the certificate problem", async () => {
    const d = (await (await fetch(`${untrusted.url}/readyz`)).json()) as { ready: boolean; controller: { problem: string | null } };
    return d.controller.problem ? d : undefined;
  });
  assert.equal(detail.ready, false);
  assert.match(detail.controller.problem!, /cannot verify its certificate: .*--controller-ca/);
  assert.deepEqual(fake.from("pod-notls"), [], "no request (and no token) reached the controller");
});

test("a bundle over the size limit is an error, not a NACK; an answer whose ETag does not match its body is NACKed", async () => {
  const s = setup();
  const fake = await startFake();
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  fake.publish(a.text);
  const lines: string[] = [];
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  const small = new ControllerSubscription({
    url: fake.url, namespace: "team", name: "support", store, tokenFile: s.tokenFile, sidecarId: "small", maxBundleBytes: a.text.length - 1, timing: FAST, log: (l) => lines.push(l),
  });
  small.start();
  cleanups.push(() => small.close());
  await until("a failed poll", () => small.status().polls.error >= 2);
  assert.match(small.status().problem!, /the bundle is larger than the sidecar's limit of \d+ bytes/);
  assert.equal(store.current, null);
  assert.equal(lines.length, 1, lines.join("\n"));
  await small.close();

  // A body changed on the way: refused before it reaches the store, and the NACK names the ETag offered.
  const tampered = a.text.replace("urgent", "urgenT");
  fake.current = { text: tampered, etag: a.etag };
  const sub = new ControllerSubscription({ url: fake.url, namespace: "team", name: "support", store, tokenFile: s.tokenFile, sidecarId: "tampered", timing: FAST, log: (l) => lines.push(l) });
  sub.start();
  cleanups.push(() => sub.close());
  const nack = await until("the NACK", () => fake.from("tampered").find((r) => r.nack !== undefined));
  const parsed = parseNackHeader(nack.nack!)!;
  assert.equal(parsed.etag, a.etag);
  assert.match(parsed.reason, /is not the SHA-256 of its body/);
  assert.equal(store.rejections, 0, "never offered to the store");
  await sub.close();
});

test("the same release re-signed (another trusted key) is no change for the store, yet ACKed with the ETag offered, so it is not sent again", async () => {
  const s = setup();
  const fake = await startFake();
  const other = generateKeyPair();
  const a = bundleText("urgent", 1, keys.privateKeyPem);
  const resigned = bundleText("urgent", 1, other.privateKeyPem);
  assert.equal(resigned.bundle.manifest.revision, a.bundle.manifest.revision);
  assert.notEqual(resigned.etag, a.etag);
  fake.publish(a.text);
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem, other.publicKeyPem] });
  const sub = new ControllerSubscription({ url: fake.url, namespace: "team", name: "support", store, tokenFile: s.tokenFile, sidecarId: "rot", timing: FAST });
  sub.start();
  cleanups.push(() => sub.close());
  await until("the ACK of A", () => fake.open("rot")?.ifNoneMatch === a.etag);
  const active = store.current;
  fake.publish(resigned.text);
  const ack = await until("the ACK of the re-signed bundle", () => fake.from("rot").find((r) => r.ifNoneMatch === resigned.etag));
  assert.equal(ack.nack, undefined);
  await until("that poll held open", () => fake.open("rot") === ack);
  assert.equal(store.current, active, "the store kept the bundle it had");
  assert.equal(fake.from("rot").filter((r) => r.status === 200).length, 2);
  assert.deepEqual(sub.status().polls, { accepted: 2, rejected: 0, not_modified: 0, error: 0 });
  await sub.close();
});

test("a poll the controller does not answer within wait + grace is aborted and retried", async () => {
  const s = setup();
  const silent = createHttpServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  const sub = new ControllerSubscription({
    url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, namespace: "team", name: "support", store, tokenFile: s.tokenFile, sidecarId: "silent", timing: { ...FAST, graceMs: 200 },
  });
  sub.start();
  cleanups.push(() => sub.close());
  await until("two timed-out polls", () => sub.status().polls.error >= 2);
  assert.match(sub.status().problem!, /no answer within 0\.2 s \(wait 0 s \+ 0\.2 s\)/);
  await sub.close();
});

test("serve --controller: usage errors name the fix; plain http only on loopback", async () => {
  const s = setup();
  const rp = async (args: string[]) => {
    const io = bufferIo();
    const code = await run(["serve", ...args], io);
    return { code, stderr: io.stderr };
  };
  const base = ["--policy-ref", "team/support", "--public-key", s.pub, "--listen", "127.0.0.1:0"];
  for (const [args, expect] of [
    [["--controller", "http://controller.routeplane-system.svc:8080", ...base], /--controller: http:\/\/controller\.routeplane-system\.svc:8080 would send the service-account token in clear text: use https:\/\//],
    [["--controller", "http://10.0.0.1", ...base], /in clear text/],
    [["--controller", "controller:8443", ...base], /is not an http\(s\) URL|is not a URL/],
    [["--controller", "https://c.test", "--public-key", s.pub], /--controller needs --policy-ref <namespace>\/<name>/],
    [["--controller", "https://c.test", "--policy-ref", "team/support"], /--controller needs at least one --public-key/],
    [["--controller", "https://c.test", "--policy-ref", "Team/support", "--public-key", s.pub], /--policy-ref namespace "Team" is not a Kubernetes namespace name/],
    [["--controller", "https://c.test", "--policy-ref", "support", "--public-key", s.pub], /--policy-ref takes <namespace>\/<name>/],
    [["--controller", "https://c.test", "--bundle", "b.json", ...base], /exactly one of --bundle <bundle.json>, --controller <url>/],
    [["--bundle", "b.json", ...base], /--policy-ref is for subscribing to a controller/],
    [["--controller", "https://c.test", ...base, "--controller-ca", s.pub], /--controller-ca .* holds no PEM certificate/],
  ] as const) {
    const r = await rp([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, expect);
  }
  assert.equal(controllerUrlProblem("http://127.0.0.1:8080"), null);
  assert.equal(controllerUrlProblem("http://[::1]:8080"), null);
  assert.equal(controllerUrlProblem("http://localhost:8080"), null);
  assert.equal(controllerUrlProblem("https://controller.routeplane-system.svc:8443"), null);
  assert.match(controllerUrlProblem("https://user:pw@c.test")!, /carries credentials/);
  assert.deepEqual(parsePolicyRef("team/support.v2"), { namespace: "team", name: "support.v2" });
});

test("backoff: full jitter under a cap that doubles from the initial delay to the maximum", () => {
  const timing = { backoffInitialMs: 500, backoffMaxMs: 30_000 };
  assert.deepEqual([1, 2, 3, 6, 7, 8, 100].map((n) => backoffDelay(n, timing, () => 0.999999)), [499, 999, 1999, 15999, 29999, 29999, 29999]);
  assert.equal(backoffDelay(5, timing, () => 0), 0);
});
