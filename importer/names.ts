// Names for the routeplane side of an import: vLLM-SR names may hold spaces,
// dashes, dots and slashes (`computer science`, `qwen/qwen3.5-rocm`), or be
// one of routeplane's reserved words (`route`, `default`), or `__proto__`.
// Each kind of definition (model, signal, plugin, route) is one namespace, as
// in the language, and every renaming is reported with its reason.

/** Words the .route grammar reserves (docs/language.md, "Lexical structure"). */
export const RESERVED_WORDS: ReadonlySet<string> = new Set([
  "package", "import", "model", "signal", "plugin", "route", "default", "guarantee", "assume", "test",
  "when", "use", "fallback", "select", "apply", "and", "or", "not", "in", "true", "false",
]);

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function isPlainName(s: string): boolean {
  return NAME.test(s) && !RESERVED_WORDS.has(s) && s !== "__proto__";
}

/** The nearest routeplane name: other characters become `_`, a leading digit gets a `_`, a reserved word a trailing `_`. */
export function toName(s: string): string {
  const n = toClass(s);
  return RESERVED_WORDS.has(n) ? `${n}_` : n;
}

/**
 * A domain class's name: a name, but reserved words are fine (classes are
 * strings in `classes: [...]` and compared as `domains == "default"`); accents
 * are dropped (`é` → `e`), other characters become `_`.
 */
export function toClass(s: string): string {
  let n = s.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/[^A-Za-z0-9_]+/g, "_").replace(/_{2,}/g, "_");
  if (n !== "_" && n.length > 1) n = n.replace(/^_+(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])_+$/g, "");
  if (n === "" || n === "_") n = "unnamed";
  if (/^[0-9]/.test(n)) n = `_${n}`;
  if (s === "__proto__" || n === "__proto__") n = "proto";
  return n.length > 64 ? n.slice(0, 64) : n;
}

export interface Rename {
  from: string;
  to: string;
  why: string;
}

/**
 * Who declares a name: the top-level program or a recipe. A package has one
 * namespace per kind, while vLLM-SR's recipes are isolated scopes, so a name
 * that another scope already holds gets this scope's prefix (its profile's
 * name): `quality_first_hard`.
 */
export interface Owner {
  /** Unique per scope: "" for the top-level program, else the recipe's name. */
  id: string;
  /** The prefix for names another scope holds; "" never prefixes. */
  prefix: string;
  /** How IMPORT.md names the scope: "the top-level program", "recipe `speed`". */
  label: string;
}

/** One namespace of routeplane names, handing out unique names for vLLM-SR ones. */
export class Namespace {
  private readonly taken = new Set<string>();
  private readonly owners = new Map<string, Owner>();
  readonly renames: Rename[] = [];

  /** Reserves a name the importer itself chose (`domains`, `default`'s helpers). */
  reserve(name: string, owner?: Owner): void {
    this.taken.add(name);
    if (owner) this.owners.set(name, owner);
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** The scope that claimed a name, when it was claimed for one. */
  ownerOf(name: string): Owner | undefined {
    return this.owners.get(name);
  }

  /**
   * A fresh routeplane name for `original`; a rename is recorded when it
   * differs. With an owner, a name another scope holds is prefixed with the
   * owner's prefix before `_2`, `_3`… are tried.
   */
  claim(original: string, report = true, owner?: Owner): string {
    const base = toName(original);
    let stem = base;
    const other = this.taken.has(base) ? this.owners.get(base) : undefined;
    const prefixed = owner !== undefined && other !== undefined && other.id !== owner.id && owner.prefix !== "";
    if (prefixed) stem = toName(`${owner.prefix}_${base}`);
    let name = stem;
    for (let i = 2; this.taken.has(name); i++) name = `${stem}_${i}`;
    this.taken.add(name);
    if (owner) this.owners.set(name, owner);
    if (report && name !== original) {
      const why = original === "__proto__"
        ? "`__proto__` cannot name anything in routeplane (RP0208)"
        : RESERVED_WORDS.has(original)
          ? `\`${original}\` is a reserved word in routeplane`
          : prefixed
            ? `${other!.label} also declares \`${base}\`, and names are unique across the package (vLLM-SR scopes them per recipe): prefixed with the profile's name`
            : name !== base
              ? `\`${base}\` was already taken`
              : "routeplane names are letters, digits and `_`";
      this.renames.push({ from: original, to: name, why });
    }
    return name;
  }
}
