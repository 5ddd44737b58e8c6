// Context signals of an adaptive route (`select adaptive { …, context: [long, code] }`,
// docs/adaptation.md "Context"): the compiler checks them, the engine puts each
// request in a cell by their truth values and records it, an overlay may give
// a cell its own split (checked against the route's bounds like any split),
// the adapter learns per cell, replay weighs by the cell, and a hostile cell
// in an event teaches nothing.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Adapter, Learner, replay, seededRandom, type AdaptiveRoute, type LoggedDecision, type LoggedFeedback } from "../adapter/index.ts";
import {
  checkRoutingEvent, contextCell, contextCells, overlayProblem, serializeBundle, FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, type Bundle, type RoutingEvent,
} from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, Engine, createSidecar, requestFromChat, startDemoUpstream } from "../runtime/index.ts";
import { MemorySink } from "./support/memory-sink.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const policy = (context = "[long, code]", endpoint = "http://m.local") => `package ctx

model cheap { provider: vllm, endpoint: "${endpoint}", quality: 0.5 }
model smart { provider: vllm, endpoint: "${endpoint}", quality: 0.6 }

signal keyword code { any: ["python", "code"] }
signal context long { min_tokens: 50 }

route ask priority 1 {
  when true
  select adaptive { models: [cheap, smart], objective: quality, explore: 0.2, floor: 0.05, context: ${context} }
}
`;

function bundle(text = policy()): Bundle {
  const r = compile(memoryHost({ "p.route": text }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return r.bundle;
}

const ask = (content: string, id: string) => ({ ...requestFromChat({ messages: [{ role: "user", content }] }), id });

test("cells: a name per combination of truth values, in the policy's order, `!` for a signal that does not hold", () => {
  assert.equal(contextCell(["long", "code"], [true, false]), "long,!code");
  assert.deepEqual(contextCells(["long", "code"]), ["long,code", "!long,code", "long,!code", "!long,!code"]);
  assert.deepEqual(contextCells([]), [""]);
});

test("the compiler: context signals go into the bundle; an undefined one is an error at its place, five are too many, and a signal used only as context is used", () => {
  const b = bundle();
  const sel = b.policy.routes[0].action.select;
  assert.ok(sel.algorithm === "adaptive");
  assert.deepEqual(sel.context, ["long", "code"]);
  const r = compile(memoryHost({ "p.route": policy() }), ["p.route"]);
  assert.deepEqual(r.diagnostics.filter((d) => d.code === "RP1005"), [], "no `signal … is never used` for a context signal");

  const typo = compile(memoryHost({ "p.route": policy("[long, cdoe]") }), ["p.route"]);
  const d = typo.diagnostics.find((x) => x.code === "RP0204");
  assert.ok(d, JSON.stringify(typo.diagnostics));
  assert.match(d.message, /undefined signal `cdoe`/);
  assert.equal(d.span.start.line, 11);
  assert.equal(typo.bundle, null);

  const many = compile(memoryHost({ "p.route": policy("[long, code, a, b, c]").replace("signal keyword code", "signal keyword a { any: [\"a\"] }\nsignal keyword b { any: [\"b\"] }\nsignal keyword c { any: [\"c\"] }\nsignal keyword code") }), ["p.route"]);
  assert.equal(many.bundle, null);
  assert.ok(many.diagnostics.some((x) => x.severity === "error" && /context/.test(x.message) && /4/.test(x.message)), JSON.stringify(many.diagnostics.map((x) => x.message)));
});

test("the engine puts each request in its cell, records it, and uses the cell's learned split, else the route's, else the priors", async () => {
  const b = bundle();
  const engine = await Engine.load(b);
  const short = engine.decide(ask("write python", "1"));
  assert.equal(short.context, "!long,code");
  const long = engine.decide(ask("tell me a story ".repeat(40), "2"), { trace: true });
  assert.equal(long.context, "long,!code");
  assert.equal(long.trace?.selection.context, "long,!code");
  // Priors: smart (0.6) leads with 0.05 + 0.9 × 0.8.
  assert.ok(Math.abs(long.probability - (long.model === "smart" ? 0.77 : 0.23)) < 1e-9, String(long.probability));

  const probabilityOf = (content: string) => {
    const counts = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const d = engine.decide(ask(content, `p${i}`));
      const p = d.model === "cheap" ? d.probability : 1 - d.probability;
      counts.set(Number(p.toFixed(6)), (counts.get(Number(p.toFixed(6))) ?? 0) + 1);
    }
    assert.equal(counts.size, 1, "one split per cell");
    return [...counts.keys()][0];
  };
  engine.setFeedback({ shares: { ask: { cheap: 0.2, smart: 0.8 } }, cells: { ask: { "!long,code": { cheap: 0.9, smart: 0.1 } } } });
  assert.equal(probabilityOf("write python"), 0.9, "the cell's own split");
  assert.equal(probabilityOf("hello"), 0.2, "a cell without one: the route's");
  // A cell split outside the bounds (smart below the floor) is not used: the route's applies.
  engine.setFeedback({ shares: { ask: { cheap: 0.2, smart: 0.8 } }, cells: { ask: { "!long,code": { cheap: 0.99, smart: 0.01 } } } });
  assert.equal(probabilityOf("write python"), 0.2);
  engine.setFeedback({});
  assert.equal(probabilityOf("write python"), 0.23);
});

test("an overlay's cells are checked like its routes: only cells the route has, only inside its bounds, only on routes with context", () => {
  const b = bundle();
  const ok = { version: "1", routes: { ask: { cheap: 0.2, smart: 0.8 } }, cells: { ask: { "long,code": { cheap: 0.85, smart: 0.15 } } } };
  assert.equal(overlayProblem(ok, b), null);
  assert.match(overlayProblem({ ...ok, cells: { ask: { "code,long": { cheap: 0.85, smart: 0.15 } } } }, b)!, /route `ask` has no cell `code,long` \(its cells are long,code !long,code long,!code !long,!code\)/);
  assert.match(overlayProblem({ ...ok, cells: { ask: { "long,code": { cheap: 0.5, smart: 0.5 } } } }, b)!, /route `ask`, cell `long,code`: the top candidate has 0.5/);
  assert.match(overlayProblem({ ...ok, cells: { nope: {} } }, b)!, /route `nope` is not an adaptive route/);
  const plain = bundle(policy().replace(", context: [long, code]", ""));
  assert.match(overlayProblem({ ...ok, routes: { ask: { cheap: 0.2, smart: 0.8 } } }, plain)!, /route `ask` has no context signals, so it has no cells/);
});

const route = (extra: Partial<AdaptiveRoute> = {}): AdaptiveRoute => ({
  route: "ask",
  models: ["cheap", "smart"],
  objective: { quality: 1, cost_usd: 0, latency_ms: 0 },
  explore: 0.2,
  floor: 0,
  context: ["code"],
  priors: { cheap: { quality: null, costUsd: null, latencyMs: null }, smart: { quality: null, costUsd: null, latencyMs: null } },
  ...extra,
});

test("the learner learns each cell on its own and the route from all of them; a cell the route does not have teaches the route only; cells survive a restart", () => {
  const l = new Learner([route()], { seed: 2 });
  // In `code`, cheap is better; elsewhere smart is.
  for (let i = 0; i < 300; i++) {
    const code = i % 2 === 0;
    const model = i % 4 < 2 ? "cheap" : "smart";
    const good = code ? model === "cheap" : model === "smart";
    l.observe({ route: "ask", cell: code ? "code" : "!code", model, quality: good ? (i % 10 < 9 ? 1 : 0) : i % 10 < 1 ? 1 : 0 });
  }
  assert.ok(l.shares("ask", "code").cheap >= 0.79, JSON.stringify(l.shares("ask", "code")));
  assert.ok(l.shares("ask", "!code").smart >= 0.79, JSON.stringify(l.shares("ask", "!code")));
  assert.equal(l.evidence("ask"), 300);
  assert.equal(l.evidence("ask", "code"), 150);
  l.observe({ route: "ask", cell: "x".repeat(10_000), model: "cheap", quality: 1 });
  assert.equal(l.evidence("ask"), 301);
  assert.deepEqual(Object.keys(l.snapshot().cells!.ask).sort(), ["!code", "code"], "no cell for a name the route does not have");
  assert.deepEqual(Object.keys(l.cellShares("ask")).sort(), ["!code", "code"]);

  const restored = new Learner([route()], { seed: 2 }, l.snapshot());
  assert.equal(restored.evidence("ask", "code"), 150);
  assert.ok(restored.shares("ask", "code").cheap >= 0.79);
  // A policy whose route lost its context keeps the route's evidence and drops the cells.
  const plain = new Learner([route({ context: undefined })], { seed: 2 }, l.snapshot());
  assert.equal(plain.evidence("ask"), 301);
  assert.equal(plain.snapshot().cells, undefined);
});

function event(id: string, model: string, context: string | undefined): RoutingEvent {
  return {
    schema: ROUTING_EVENT_SCHEMA_VERSION, time: new Date(0).toISOString(), requestId: id, revision: "sha256:x", endpoint: "chat", route: "ask", model,
    attempts: [], signals: {}, selection: { probability: 0.5, sharesVersion: null, ...(context !== undefined ? { context } : {}) }, plugins: [], blocked: null, redacted: {},
    status: 200, stream: false, latencyMs: { decision: 0, plugins: 0, upstream: 50, total: 51 }, tokens: { prompt: null, completion: null }, costUsd: null,
  };
}

test("the adapter publishes per-cell shares the sidecar's check accepts; a hostile cell in an event is neither learned as a cell nor remembered", () => {
  const b = bundle();
  const a = new Adapter(b, { learner: { seed: 5 } });
  for (let i = 0; i < 400; i++) {
    const cell = i % 2 === 0 ? "!long,code" : "!long,!code";
    const model = i % 4 < 2 ? "cheap" : "smart";
    a.routing(event(`r${i}`, model, cell));
    const good = cell === "!long,code" ? model === "cheap" : model === "smart";
    a.feedback({ schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: new Date(0).toISOString(), requestId: `r${i}`, rating: good === (i % 10 < 9) ? 1 : -1, label: null });
  }
  const overlay = a.overlay();
  assert.equal(overlayProblem(overlay, b), null);
  assert.deepEqual(Object.keys(overlay.cells!.ask).sort(), ["!long,!code", "!long,code"], "only cells with the minimum evidence");
  assert.ok(overlay.cells!.ask["!long,code"].cheap > 0.7, JSON.stringify(overlay.cells));
  assert.ok(overlay.cells!.ask["!long,!code"].smart > 0.7, JSON.stringify(overlay.cells));

  const huge = "!long,".repeat(170);
  a.routing(event("h1", "cheap", huge));
  const saved = a.snapshot().seen.find((e) => e[0] === "h1")!;
  assert.equal(saved[5], undefined, "an unknown cell is not kept in the join window");
  assert.equal(checkRoutingEvent(event("h2", "cheap", "x".repeat(2000))).ok, false, "the event schema bounds a cell's length");
});

test("the sidecar records each request's cell in its routing event and applies the overlay's cell split", async () => {
  const u = await startDemoUpstream();
  cleanups.push(() => u.close());
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(bundle(policy("[code]", u.url))), "test", { requireSignature: false }), null);
  const sink = new MemorySink();
  const sidecar = createSidecar({ store, telemetry: sink });
  const { port } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  assert.equal(sidecar.setShares({ version: "v1", routes: { ask: { cheap: 0.2, smart: 0.8 } }, cells: { ask: { code: { cheap: 0.85, smart: 0.15 } } } }), null);
  const send = async (content: string, id: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST", headers: { "content-type": "application/json", "x-request-id": id }, body: JSON.stringify({ model: "x", messages: [{ role: "user", content }] }),
    });
    assert.equal(res.status, 200, await res.text());
    for (let i = 0; i < 50 && !sink.events.some((e) => e.requestId === id); i++) await new Promise((r) => setTimeout(r, 10));
    const e = sink.events.find((x) => x.requestId === id);
    assert.ok(e && e.schema === ROUTING_EVENT_SCHEMA_VERSION);
    assert.equal(checkRoutingEvent(e).ok, true);
    return e;
  };
  const code = await send("some python please", "c1");
  assert.equal(code.selection.context, "code");
  assert.equal(code.selection.sharesVersion, "v1");
  assert.equal(code.selection.probability, code.model === "cheap" ? 0.85 : 0.15);
  const other = await send("hello there", "o1");
  assert.equal(other.selection.context, "!code");
  assert.equal(other.selection.probability, other.model === "cheap" ? 0.2 : 0.8);
});

test("replay weighs each logged decision by the target's split for its cell", () => {
  const random = seededRandom(11);
  // In cell `code` cheap answers well (0.9 vs 0.5), elsewhere smart does (0.9 vs 0.4); half the traffic each, logged 50/50.
  const quality: Record<string, Record<string, number>> = { code: { cheap: 0.9, smart: 0.5 }, "!code": { cheap: 0.4, smart: 0.9 } };
  const decisions: LoggedDecision[] = [];
  const feedback: LoggedFeedback[] = [];
  for (let i = 0; i < 20_000; i++) {
    const context = random() < 0.5 ? "code" : "!code";
    const model = random() < 0.5 ? "cheap" : "smart";
    decisions.push({ requestId: `r${i}`, route: "ask", model, probability: 0.5, context, costUsd: 0, latencyMs: 1 });
    feedback.push({ requestId: `r${i}`, rating: random() < quality[context][model] ? 1 : -1, label: null });
  }
  const byCell: Record<string, Record<string, number>> = { code: { cheap: 0.9, smart: 0.1 }, "!code": { cheap: 0.1, smart: 0.9 } };
  const truth = 0.5 * (0.9 * 0.9 + 0.1 * 0.5) + 0.5 * (0.1 * 0.4 + 0.9 * 0.9);
  const r = replay(decisions, feedback, (route, cell) => (route === "ask" && cell ? byCell[cell] : null));
  const dr = r.target.doublyRobust!;
  assert.ok(dr.low <= truth && truth <= dr.high, `${JSON.stringify(dr)} should cover ${truth}`);
  // One split for the whole route cannot do as well: the cells are what the estimate rewards.
  const flat = replay(decisions, feedback, () => ({ cheap: 0.1, smart: 0.9 })).target.doublyRobust!;
  assert.ok(flat.high < dr.low, `${JSON.stringify(flat)} below ${JSON.stringify(dr)}`);
});

test("attack: `__proto__` cannot name anything (RP0208); `constructor` is a key like any other in the learner; shares outside [0, 1] are refused", () => {
  const reserved = compile(memoryHost({ "p.route": `package ctx\nmodel cheap { provider: vllm, endpoint: "http://m.local" }\nsignal keyword __proto__ { any: ["python"] }\nroute ad priority 10 { when true; use cheap }\n` }), ["p.route"]);
  assert.deepEqual(reserved.diagnostics.map((d) => d.code), ["RP0208"]);
  const text = `package ctx
model cheap { provider: vllm, endpoint: "http://m.local" }
model constructor { provider: vllm, endpoint: "http://m.local" }
signal keyword toString { any: ["python"] }
route ad priority 10 { when true; select adaptive { models: [cheap, constructor], objective: quality, explore: 0.2, context: [toString] } }
`;
  const b = bundle(text);
  const a = new Adapter(b, { learner: { seed: 1 } });
  for (let i = 0; i < 60; i++) {
    const e = event(`p${i}`, i % 2 ? "cheap" : "constructor", i % 3 ? "toString" : "!toString");
    a.routing({ ...e, route: "ad" });
    a.feedback({ schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: new Date(0).toISOString(), requestId: `p${i}`, rating: i % 2 ? 1 : -1, label: null });
  }
  assert.equal(a.counters.joined, 60);
  const overlay = a.overlay();
  assert.equal(overlayProblem(overlay, b), null);
  assert.deepEqual(Object.keys(overlay.cells!.ad).sort(), ["!toString", "toString"]);
  const cell: string = "toString";
  assert.ok(overlay.cells!.ad[cell].cheap > 0.5, JSON.stringify(overlay.cells));
  const restored = new Adapter(b, { learner: { seed: 1 } }, JSON.parse(JSON.stringify(a.snapshot())));
  assert.equal(restored.counters.joined, 60);

  const plain = bundle(policy().replace("floor: 0.05", "floor: 0"));
  assert.match(overlayProblem({ version: "1", routes: {}, cells: { ask: { "long,code": { cheap: -9e-7, smart: 1.0000009 } } } }, plain)!, /outside \[0, 1\]/);
});
