// The infrastructure scripts' own logic, without starting anything heavy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { kubeBuildGoMod, kubeVersionLdflags, etcdVersionOf } from "../e2e/infra/kube.ts";
import { alive, startProcess, stopProcess, waitFor } from "../e2e/infra/steps.ts";

const UPSTREAM = `module k8s.io/kubernetes

go 1.25.0

require (
	go.etcd.io/etcd/client/v3 v3.6.5
	k8s.io/api v0.0.0
	k8s.io/apiserver v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiserver => ./staging/src/k8s.io/apiserver
	k8s.io/kube-openapi => k8s.io/kube-openapi v0.0.0-20250910181357-589584f1c912
)
`;

test("the kube-apiserver build module replaces every staging module with its published version", () => {
  const mod = kubeBuildGoMod("v1.35.4", UPSTREAM);
  assert.match(mod, /^require k8s\.io\/kubernetes v1\.35\.4$/m);
  assert.match(mod, /^\tk8s\.io\/api => k8s\.io\/api v0\.35\.4$/m);
  assert.match(mod, /^\tk8s\.io\/apiserver => k8s\.io\/apiserver v0\.35\.4$/m);
  assert.doesNotMatch(mod, /kube-openapi/, "only staging replacements are rewritten");
  assert.equal(etcdVersionOf(UPSTREAM), "v3.6.5");
  assert.throws(() => kubeBuildGoMod("v1.35.4", "module x\n"), /no staging replacements/);
});

test("kube-apiserver and kubectl are stamped with the release the way upstream's hack/lib/version.sh does it", () => {
  const flags = kubeVersionLdflags("v1.35.4", "2026-04-15T18:01:22Z").split(" -X ").map((f) => f.replace(/^-X /, ""));
  for (const pkg of ["k8s.io/client-go/pkg/version", "k8s.io/component-base/version"]) {
    assert.ok(flags.includes(`${pkg}.gitVersion=v1.35.4`), flags.join("\n"));
    assert.ok(flags.includes(`${pkg}.gitMajor=1`));
    assert.ok(flags.includes(`${pkg}.gitMinor=35`));
    assert.ok(flags.includes(`${pkg}.buildDate=2026-04-15T18:01:22Z`));
  }
  assert.equal(flags.length, 8, "no gitCommit: the module proxy does not say it");
  assert.match(kubeVersionLdflags("v1.35.4", "2026-04-15T18:01:22.5+02:00"), /buildDate=2026-04-15T16:01:22Z/, "UTC, whole seconds");
  assert.throws(() => kubeVersionLdflags("v1.35", "2026-04-15T18:01:22Z"), /unexpected Kubernetes version/);
});

test("a component that exits while starting fails with its name and the tail of its log", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-infra-"));
  try {
    const p = startProcess("fake-broker", process.execPath, ["-e", "console.log('listening failed: port in use'); process.exit(3)"], path.join(dir, "log"));
    await assert.rejects(waitFor(p, async () => false, 10_000), /fake-broker exited while starting[\s\S]*listening failed: port in use/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a component that never becomes ready times out with its log, and is stopped by pid", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-infra-"));
  try {
    const p = startProcess("slow-server", process.execPath, ["-e", "console.log('still warming up'); setInterval(() => {}, 1000)"], path.join(dir, "log"));
    await assert.rejects(waitFor(p, async () => false, 1_500), /slow-server did not become ready within 1\.5 s[\s\S]*still warming up/);
    assert.equal(alive(p.pid), true);
    await stopProcess(p.pid, 2_000);
    assert.equal(alive(p.pid), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
