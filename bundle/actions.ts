// Every action of a policy by the route name its decisions carry: each route,
// "default" for the policy's default, and `<profile>.default` for each
// profile's default. Telemetry, learned shares and replay key by these names.
import type { Action, LoweredPolicy } from "./types.ts";

/** The name a profile's default decides under. */
export const profileDefaultRoute = (profile: string): string => `${profile}.default`;

export function routeActions(policy: LoweredPolicy): [string, Action][] {
  return [
    ...policy.routes.map((r): [string, Action] => [r.name, r.action]),
    ...(policy.default ? [["default", policy.default] as [string, Action]] : []),
    ...(policy.profiles ?? []).flatMap((p): [string, Action][] => (p.default ? [[profileDefaultRoute(p.name), p.default]] : [])),
  ];
}
