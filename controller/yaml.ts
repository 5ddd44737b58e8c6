// YAML for Kubernetes objects, for `routeplane manifest`: client-node's
// dumpYaml (js-yaml) without line folding, so multi-line text (a policy's
// .route files) comes out as block scalars (`|`) a reviewer can read in a diff.
import { dumpYaml } from "@kubernetes/client-node";

/** An object as YAML: block scalars for multi-line strings, no folded long lines, no anchors. */
export function toYaml(object: object): string {
  return dumpYaml(object, { lineWidth: -1, noRefs: true });
}
