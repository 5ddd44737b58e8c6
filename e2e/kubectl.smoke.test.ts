// The kubectl that provisioning builds is the apiserver's own release (the
// machine's kubectl is too old for a 1.35 apiserver), and it works against the
// cluster as a user would: `kubectl apply -f` of a CustomResourceDefinition,
// `kubectl get` with its printer columns, `kubectl explain` from the schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { KUBERNETES_VERSION } from "./infra/kube.ts";
import { eventually, kubeconfigPath, kubectlPath, uniqueName } from "./support.ts";

const execFileP = promisify(execFile);

const GROUP = "kubectl.smoke.routeplane.dev";
const CRD_NAME = `widgets.${GROUP}`;

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ${CRD_NAME}
spec:
  group: ${GROUP}
  scope: Cluster
  names:
    plural: widgets
    singular: widget
    kind: Widget
    listKind: WidgetList
  versions:
  - name: v1alpha1
    served: true
    storage: true
    additionalPrinterColumns:
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        description: A widget made for the kubectl smoke test.
        properties:
          spec:
            type: object
            required: [color]
            properties:
              color:
                type: string
                description: The colour the widget is painted.
                enum: [teal, ochre]
              size:
                type: integer
                minimum: 1
`;

/** Runs the provisioned kubectl against the test cluster, with its own discovery cache. */
async function kubectl(cacheDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP(kubectlPath(), ["--kubeconfig", kubeconfigPath(), "--cache-dir", cacheDir, ...args], { encoding: "utf8", timeout: 60_000 });
  return stdout;
}

test("kubectl: client and server are both the provisioned release", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-kubectl-"));
  try {
    const v = JSON.parse(await kubectl(path.join(dir, "cache"), "version", "-o", "json")) as {
      clientVersion: { gitVersion: string; major: string; minor: string };
      serverVersion: { gitVersion: string; major: string; minor: string };
    };
    assert.equal(v.clientVersion.gitVersion, KUBERNETES_VERSION);
    assert.equal(v.serverVersion.gitVersion, KUBERNETES_VERSION);
    const [major, minor] = KUBERNETES_VERSION.replace(/^v/, "").split(".");
    assert.deepEqual([v.clientVersion.major, v.clientVersion.minor], [major, minor]);
    assert.deepEqual([v.serverVersion.major, v.serverVersion.minor], [major, minor]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("kubectl: apply a CRD, get its resources with printer columns, explain its schema, delete it", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-kubectl-"));
  const cache = path.join(dir, "cache");
  const crdFile = path.join(dir, "crd.yaml");
  const name = uniqueName("widget");
  const widgetFile = path.join(dir, "widget.yaml");
  writeFileSync(crdFile, CRD);
  writeFileSync(widgetFile, `apiVersion: ${GROUP}/v1alpha1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n  color: teal\n  size: 3\n`);
  try {
    assert.match(await kubectl(cache, "apply", "-f", crdFile), new RegExp(`customresourcedefinition\\.apiextensions\\.k8s\\.io/${CRD_NAME.replaceAll(".", "\\.")} (created|configured|unchanged)`));
    await kubectl(cache, "wait", "--for=condition=Established", `crd/${CRD_NAME}`, "--timeout=60s");

    assert.match(await kubectl(cache, "apply", "-f", widgetFile), new RegExp(`widget\\.${GROUP.replaceAll(".", "\\.")}/${name} created`));
    const table = (await kubectl(cache, "get", "widgets")).trimEnd().split("\n");
    assert.match(table[0], /^NAME\s+COLOR\s+SIZE\s+AGE$/);
    assert.ok(table.slice(1).some((row) => new RegExp(`^${name}\\s+teal\\s+3\\s+\\S+$`).test(row)), table.join("\n"));

    // The schema validates what kubectl sends: an enum value it does not allow is refused.
    await assert.rejects(kubectl(cache, "patch", "widget", name, "--type=merge", "-p", '{"spec":{"color":"red"}}'), /Unsupported value: "red"/);

    // explain reads the published OpenAPI, which follows the CRD a moment later.
    const explained = await eventually("kubectl explain to know widgets.spec.color", async () => {
      const out = await kubectl(cache, "explain", "widgets.spec.color");
      return out.includes("The colour the widget is painted.") ? out : undefined;
    });
    assert.match(explained, /KIND:\s+Widget/);
    assert.match(explained, /FIELD:\s+color\s+<string>/);

    assert.match(await kubectl(cache, "delete", "widget", name), new RegExp(`widget\\.${GROUP.replaceAll(".", "\\.")} "${name}" deleted`));
    await kubectl(cache, "delete", "-f", crdFile, "--wait=true", "--timeout=60s");
    await assert.rejects(kubectl(cache, "get", "crd", CRD_NAME), /NotFound/);
  } finally {
    // Whatever failed above, leave no CRD behind (deleting it deletes its resources too).
    await kubectl(cache, "delete", "-f", crdFile, "--ignore-not-found", "--wait=true", "--timeout=60s").catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
