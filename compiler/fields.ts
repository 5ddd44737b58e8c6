// Field blocks (`{ key: value ... }`) → JSON, validated against the catalog's
// JSON Schemas with ajv. Each ajv error is mapped back through the value
// tree so the diagnostic underlines the offending field itself.
import type { ErrorObject } from "ajv";
import type { ObjectValue, Span, Value } from "../grammar/index.ts";
import type { JsonObject, JsonSchema, JsonValue } from "../bundle/index.ts";
import { didYouMean, type DiagnosticBag } from "./diagnostics.ts";
import { FIELD_SCHEMAS, type SchemaKey } from "./schemas.ts";
import * as generated from "./fields.generated.js";

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** The precompiled validator for a schema key (see schemas.ts). */
function validatorFor(key: SchemaKey): Validator {
  const v = (generated as unknown as Record<string, Validator>)[exportName(key)];
  if (!v) throw new Error(`internal error: no precompiled validator for ${key}; run \`npm run build:schema\``);
  return v;
}

/** `signal.keyword` → `signal_keyword`: the generated module's export name. */
export function exportName(key: SchemaKey): string {
  return key.replace(/\./g, "_");
}

/** A value's JSON form. Arithmetic has none: callers that allow it lower it first. */
export function valueToJson(value: Value, file: string, diags: DiagnosticBag): JsonValue | undefined {
  switch (value.kind) {
    case "string":
      return value.value;
    case "number":
      if (!Number.isFinite(value.value)) {
        diags.add("RP0301", file, value.span, "number is too large", { help: "use a finite number" });
        return undefined;
      }
      return value.value;
    case "bool":
      return value.value;
    case "ident":
      return value.name;
    case "list": {
      const out: JsonValue[] = [];
      for (const item of value.items) {
        const j = valueToJson(item, file, diags);
        if (j === undefined) return undefined;
        out.push(j);
      }
      return out;
    }
    case "object":
      return objectToJson(value, file, diags);
    case "arith":
      diags.add("RP0306", file, value.span, "arithmetic is only allowed in an adaptive `objective`", {
        help: "write a single number, name or string here",
      });
      return undefined;
  }
}

function objectToJson(value: ObjectValue, file: string, diags: DiagnosticBag, skip?: ReadonlySet<string>): JsonObject | undefined {
  const out: JsonObject = {};
  const seen = new Map<string, Span>();
  let ok = true;
  for (const field of value.fields) {
    const key = field.key.name;
    const prior = seen.get(key);
    if (prior) {
      diags.add("RP0305", file, field.key.span, `field \`${key}\` is given twice`, {
        help: "remove one of them",
        related: [{ file, span: prior, message: "first given here" }],
      });
      ok = false;
      continue;
    }
    seen.set(key, field.key.span);
    // A JSON object built here would take `__proto__` as its prototype, not as a key.
    if (key === "__proto__") {
      diags.add("RP0208", file, field.key.span, "`__proto__` is reserved: it cannot name a field, a band or a level", { help: "choose another name" });
      ok = false;
      continue;
    }
    if (skip?.has(key)) continue;
    const j = valueToJson(field.value, file, diags);
    if (j === undefined) ok = false;
    else out[key] = j;
  }
  return ok ? out : undefined;
}

/** The node an ajv instancePath points at, and the span to underline. */
function locate(root: ObjectValue, pointer: string): Value {
  let node: Value = root;
  for (const raw of pointer.split("/").slice(1)) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    if (node.kind === "object") {
      const field: { value: Value } | undefined = [...node.fields].reverse().find((f) => f.key.name === part);
      if (!field) return node;
      node = field.value;
    } else if (node.kind === "list") {
      const item: Value | undefined = node.items[Number(part)];
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

function fieldKeySpan(obj: Value, key: string): Span | undefined {
  if (obj.kind !== "object") return undefined;
  return obj.fields.find((f) => f.key.name === key)?.key.span;
}

function describe(value: Value): string {
  switch (value.kind) {
    case "string":
      return `"${value.value}"`;
    case "number":
      return String(value.value);
    case "bool":
      return String(value.value);
    case "ident":
      return `\`${value.name}\``;
    case "list":
      return "a list";
    case "object":
      return "a block";
    case "arith":
      return "an expression";
  }
}

const TYPE_WORDS: Record<string, string> = {
  number: "a number",
  integer: "a whole number",
  string: "a string",
  boolean: "`true` or `false`",
  array: "a list `[...]`",
  object: "a block `{ ... }`",
};

/**
 * Validates a field block against a schema. `what` names the thing for
 * messages ("signal `urgent`"); `anchor` is underlined for missing fields.
 * Returns the JSON form, or undefined when any diagnostic was reported.
 */
export function checkFields(
  obj: ObjectValue,
  schemaKey: SchemaKey,
  what: string,
  anchor: Span,
  file: string,
  diags: DiagnosticBag,
  skip?: ReadonlySet<string>,
  inject?: JsonObject,
): JsonObject | undefined {
  const before = diags.errorCount;
  const converted = objectToJson(obj, file, diags, skip);
  if (converted === undefined) return undefined;
  const json = inject ? { ...converted, ...inject } : converted;
  const schema = FIELD_SCHEMAS[schemaKey];
  const validate = validatorFor(schemaKey);
  if (validate(json)) return json;
  for (const e of validate.errors ?? []) reportSchemaError(e, obj, schema, what, anchor, file, diags);
  return diags.errorCount > before ? undefined : json;
}

function schemaAt(schema: JsonSchema, pointer: string): JsonSchema {
  let s: JsonSchema = schema;
  for (const part of pointer.split("/").slice(1)) {
    const props = s.properties as Record<string, JsonSchema> | undefined;
    if (props && part in props) s = props[part];
    else if (s.items) s = s.items as JsonSchema;
    else return {};
  }
  return s;
}

function reportSchemaError(e: ErrorObject, root: ObjectValue, schema: JsonSchema, what: string, anchor: Span, file: string, diags: DiagnosticBag): void {
  // Errors inside anyOf branches are summarized by the anyOf error itself.
  if (e.schemaPath.includes("/anyOf/")) return;
  const node = locate(root, e.instancePath);
  const where = e.instancePath === "" ? what : `\`${e.instancePath.slice(1).replace(/\//g, ".")}\` of ${what}`;
  const p = e.params as Record<string, unknown>;
  const props = (schemaAt(schema, e.instancePath).properties ?? {}) as Record<string, unknown>;
  switch (e.keyword) {
    case "required": {
      const missing = String(p.missingProperty);
      const span = e.instancePath === "" ? anchor : node.span;
      diags.add("RP0303", file, span, `${where} is missing field \`${missing}\``, { help: `add \`${missing}: …\`` });
      return;
    }
    case "anyOf": {
      const branches = (schemaAt(schema, e.instancePath).anyOf ?? []) as { required?: string[] }[];
      const names = branches.flatMap((b) => b.required ?? []).map((n) => `\`${n}\``);
      diags.add("RP0303", file, e.instancePath === "" ? anchor : node.span, `${where} needs at least one of ${names.join(", ")}`);
      return;
    }
    case "additionalProperties": {
      const key = String(p.additionalProperty);
      const span = fieldKeySpan(node, key) ?? node.span;
      const known = Object.keys(props);
      const hint = didYouMean(key, known, span);
      diags.add("RP0302", file, span, `${what} has no field \`${key}\``, {
        ...hint,
        help: hint.help ?? (known.length ? `its fields are: ${known.join(", ")}` : undefined),
      });
      return;
    }
    case "uniqueItems":
      diags.add("RP0301", file, node.span, `${where} lists the same item twice (items ${Number(p.j) + 1} and ${Number(p.i) + 1})`, { help: "list each once" });
      return;
    case "minItems":
    case "maxItems":
      diags.add("RP0301", file, node.span, `${where} needs ${e.keyword === "minItems" ? "at least" : "at most"} ${String(p.limit)} item${Number(p.limit) === 1 ? "" : "s"}`);
      return;
    case "minProperties": {
      const known = Object.keys(props);
      diags.add("RP0303", file, e.instancePath === "" ? anchor : node.span, `${where} needs at least one field`, known.length ? { help: `its fields are: ${known.join(", ")}` } : {});
      return;
    }
    case "type": {
      const expected = String(p.type).split(",").map((t) => TYPE_WORDS[t] ?? t).join(" or ");
      diags.add("RP0301", file, node.span, `${where} must be ${expected}, not ${describe(node)}`);
      return;
    }
    case "enum":
    case "const": {
      const allowed = (p.allowedValues as unknown[] | undefined) ?? [p.allowedValue];
      const given = node.kind === "ident" ? node.name : node.kind === "string" ? node.value : describe(node);
      const hint = didYouMean(given, allowed.map(String), node.span);
      diags.add("RP0301", file, node.span, `${where} cannot be ${describe(node)}`, {
        ...hint,
        help: hint.help ?? `allowed: ${allowed.map((a) => `\`${String(a)}\``).join(", ")}`,
      });
      return;
    }
    default:
      diags.add("RP0301", file, node.span, `${where} ${e.message ?? "is invalid"}`);
  }
}
