// The telemetry queue both sinks share: bounded, first in first out, and when
// full it drops the OLDEST events (the newest say most about the present),
// counting each drop. Checked against a plain array model on random
// operations, and for its cost when full.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DropOldestQueue } from "../runtime/sidecar/telemetry.ts";
import { mulberry } from "./support/policy-gen.ts";

test("DropOldestQueue behaves as a bounded array that drops from the front, on random operations", () => {
  const r = mulberry(11);
  for (let run = 0; run < 200; run++) {
    const limit = 1 + r(20);
    const q = new DropOldestQueue<number>(limit);
    let model: number[] = [];
    let dropped = 0;
    let next = 0;
    for (let op = 0; op < 300; op++) {
      const k = r(4);
      if (k <= 1) {
        q.push(next);
        model.push(next++);
      } else if (k === 2) {
        const n = r(limit + 3);
        assert.deepEqual(q.take(n), model.slice(0, n));
        model = model.slice(n);
      } else {
        const batch = Array.from({ length: r(limit + 3) }, () => next++);
        q.unshift(batch);
        model = [...batch, ...model];
      }
      if (model.length > limit) {
        dropped += model.length - limit;
        model = model.slice(model.length - limit);
      }
      assert.equal(q.length, model.length);
      assert.equal(q.dropped, dropped);
    }
    assert.deepEqual(q.take(limit), model);
  }
});

test("a full queue keeps the newest events and pushes in constant time", () => {
  const q = new DropOldestQueue<number>(10_000);
  const t0 = process.cpuUsage();
  for (let i = 0; i < 1_000_000; i++) q.push(i);
  const cpuMs = (process.cpuUsage(t0).user + process.cpuUsage(t0).system) / 1000;
  assert.equal(q.dropped, 990_000);
  const kept = q.take(10_000);
  assert.equal(kept[0], 990_000);
  assert.equal(kept.at(-1), 999_999);
  // A million pushes into a full queue: tens of ms in a ring, minutes when each push moves 10,000 items.
  assert.ok(cpuMs < 5_000, `${cpuMs} ms`);
});
