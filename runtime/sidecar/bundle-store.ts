// The bundle the sidecar enforces. A bundle becomes active only when it is
// canonical, matches its schema, hashes to its revision, carries a signature
// by a trusted key, is of the policy this sidecar serves, comes after the
// active bundle in its policy's release order (ADR 10), records no failed or
// (unless allowed) unproved guarantee, and loads in the decision engine;
// anything else is rejected and the last known good bundle stays active. The
// last known good bundle is kept on disk (best effort), so a restart with a
// broken, missing or replayed bundle file still serves the newest policy.
import { mkdirSync, readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import path from "node:path";
import { describeBundleReadError, emptyHealth, readBundle, routeActions, serializeBundle, verifyBundleSignature, type Action, type Bundle, type Manifest, type ModelSpec, type RevisionHealth } from "../../bundle/index.ts";
import { Engine } from "../engine/engine.ts";

export interface ActiveBundle {
  bundle: Bundle;
  engine: Engine;
  /** Lookups every request needs, made once per bundle: models by name, and actions by route ("default" too). */
  models: ReadonlyMap<string, ModelSpec>;
  actions: ReadonlyMap<string, Action>;
  /** Where it came from: the bundle file, the last-known-good copy, or a policy compiled in process. */
  source: string;
  activatedAt: Date;
  /** Verified by a trusted key (false: a policy compiled in process, which is neither pinned nor ordered). */
  signed: boolean;
  /** What this sidecar saw since it activated the bundle: reported to the controller for canary analysis. */
  health: RevisionHealth;
}

export interface Rejection {
  at: Date;
  source: string;
  reason: string;
}

export interface BundleStoreOptions {
  /** PEM public keys; a bundle must carry a valid signature by one of them. Empty: only for policies compiled in process. */
  trustedKeys: string[];
  /** Directory for the last-known-good bundle; none: not persisted. */
  stateDir?: string;
  /**
   * The policy (`manifest.policy`) this sidecar serves. Default: the policy of
   * the first signed bundle it activates (the last known good one after a restart).
   */
  policy?: string;
  /** Activate bundles whose guarantees are recorded `unchecked` (compiled with --allow-unproved). Failed ones never. */
  allowUnproved?: boolean;
  onChange?: (active: ActiveBundle) => void;
  onReject?: (rejection: Rejection) => void;
  /** The last known good bundle could not be written; the bundle is active all the same. */
  onPersistError?: (reason: string) => void;
}

const LAST_GOOD = "last-known-good.bundle.json";

export class BundleStore {
  private active: ActiveBundle | null = null;
  private lastRejection: Rejection | null = null;
  private watcher: FSWatcher | null = null;
  private reloading: Promise<void> = Promise.resolve();
  private offering: Promise<void> = Promise.resolve();
  private readonly options: BundleStoreOptions;
  /** The policy served: configured, or pinned by the first signed bundle activated. */
  private policy: string | null;
  rejections = 0;
  /** Times the last known good bundle could not be written (`routeplane_bundle_persist_failures_total`). */
  persistFailures = 0;

  constructor(options: BundleStoreOptions) {
    this.options = options;
    this.policy = options.policy ?? null;
  }

  get current(): ActiveBundle | null {
    return this.active;
  }

  get rejection(): Rejection | null {
    return this.lastRejection;
  }

  /** Verifies and activates bundle text; returns why it was rejected, or null when it is active. Never throws for bad input. */
  offer(text: string, source: string, options: { requireSignature?: boolean } = {}): Promise<string | null> {
    // One offer at a time: each is checked against the bundle the one before it left active, so a
    // slow engine load of an older bundle can never land after a newer one.
    // Whatever a hostile bundle makes a check throw (a JSON nesting that exhausts the stack of the
    // schema validator, say) is a rejection like any other, never an exception for the caller.
    const result = this.offering.then(() => this.verifyAndActivate(text, source, options)).catch((err: unknown) =>
      this.reject(source, `the bundle could not be checked: ${err instanceof RangeError ? "it is nested too deeply" : (err as Error).message}`));
    this.offering = result.then(() => undefined, () => undefined);
    return result;
  }

  private async verifyAndActivate(text: string, source: string, { requireSignature = true }: { requireSignature?: boolean }): Promise<string | null> {
    const read = readBundle(text);
    if (!read.ok) return this.reject(source, describeBundleReadError(read.error));
    const bundle = read.bundle;
    const { manifest } = bundle;
    if (requireSignature) {
      if (this.options.trustedKeys.length === 0) return this.reject(source, "no trusted public key is configured (--public-key), so no signed bundle can be verified");
      const verified = verifyBundleSignature(bundle, this.options.trustedKeys);
      if (!verified.ok) return this.reject(source, `signature: ${verified.detail}`);
      // A signature says who made a bundle, not that it is the one to run now: another policy's bundle or an older one is refused.
      if (this.policy !== null && manifest.policy !== this.policy) {
        return this.reject(source, `the bundle is of policy "${manifest.policy}", but this sidecar serves policy "${this.policy}"${this.options.policy ? " (--expect-policy)" : " (pinned by the first bundle it activated; start a fresh sidecar, or give --expect-policy, to serve another)"}`);
      }
      const active = this.active?.bundle.manifest;
      if (active && this.active?.signed) {
        if (active.revision === manifest.revision && active.serial === manifest.serial && active.rollback === manifest.rollback) return null;
        if (!isAfter(manifest, active)) {
          return this.reject(source, `the bundle (${position(manifest)}) does not come after the active bundle (${position(active)}): replayed or out of order; compile a newer bundle with a higher --serial, or a rollback with --serial ${active.serial} --rollback`);
        }
      }
    } else if (this.active?.bundle.manifest.revision === manifest.revision && this.active.bundle.manifest.adaptation === manifest.adaptation) return null;
    const unproved = bundle.verification.guarantees.filter((g) => g.status !== "proved");
    const failed = unproved.filter((g) => g.status === "failed");
    if (failed.length > 0) return this.reject(source, `the bundle records failed guarantees (${failed.map((g) => `"${g.name}"`).join(", ")}); no flag accepts a guarantee known not to hold`);
    if (unproved.length > 0 && !this.options.allowUnproved) {
      return this.reject(source, `the bundle records unproved guarantees (${unproved.map((g) => `"${g.name}"`).join(", ")}: compiled with --allow-unproved); start the sidecar with --allow-unproved to accept them`);
    }
    // The engine's own load is the last check: a bundle it cannot build (a condition naming an undefined signal, an invalid regex) is rejected, never a crash.
    let engine: Engine;
    try {
      engine = await Engine.load(bundle);
    } catch (err) {
      return this.reject(source, `the decision engine cannot load the bundle: ${(err as Error).message}`);
    }
    // The swap is one assignment: requests in flight keep the engine they started with.
    const { policy } = bundle;
    const actions = new Map<string, Action>(routeActions(policy));
    this.active = { bundle, engine, models: new Map(policy.models.map((m) => [m.name, m])), actions, source, activatedAt: new Date(), signed: requireSignature, health: emptyHealth() };
    if (requireSignature) {
      this.policy ??= manifest.policy;
      this.persist(bundle);
    }
    this.options.onChange?.(this.active);
    return null;
  }

  /** Activates the last known good bundle from the state directory, if there is one that still verifies. */
  async restoreLastGood(): Promise<boolean> {
    if (!this.options.stateDir) return false;
    let text: string;
    try {
      text = readFileSync(path.join(this.options.stateDir, LAST_GOOD), "utf8");
    } catch {
      return false;
    }
    return (await this.offer(text, `${this.options.stateDir}/${LAST_GOOD} (last known good)`)) === null;
  }

  /** Loads `file` now and again whenever it changes. */
  async watchFile(file: string): Promise<void> {
    const load = async () => {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (err) {
        this.reject(file, `cannot read the bundle file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        return;
      }
      await this.offer(text, file);
    };
    await load();
    // Watch the directory: editors and `mv` replace the file, which a file watch would lose.
    const dir = path.dirname(path.resolve(file));
    const base = path.basename(file);
    this.watcher = watch(dir, (_event, name) => {
      if (name !== base) return;
      this.reloading = this.reloading.then(load, load);
    });
  }

  /** Resolves once every reload triggered so far has finished (for tests and shutdown). */
  settled(): Promise<void> {
    return this.reloading;
  }

  close(): void {
    this.watcher?.close();
  }

  private reject(source: string, reason: string): string {
    this.rejections++;
    this.lastRejection = { at: new Date(), source, reason };
    this.options.onReject?.(this.lastRejection);
    return reason;
  }

  /** Best effort: a state directory that cannot be written is reported (metric, log), never fatal. */
  private persist(bundle: Bundle): void {
    if (!this.options.stateDir) return;
    const target = path.join(this.options.stateDir, LAST_GOOD);
    try {
      mkdirSync(this.options.stateDir, { recursive: true });
      // Write then rename: a crash never leaves half a bundle behind.
      writeFileSync(`${target}.tmp`, serializeBundle(bundle));
      renameSync(`${target}.tmp`, target);
    } catch (err) {
      this.persistFailures++;
      const code = (err as NodeJS.ErrnoException).code;
      this.options.onPersistError?.(`cannot keep the last known good bundle in ${target}: ${code ? `${code} ` : ""}${(err as Error).message}; the bundle is active, but a restart will not find it`);
    }
  }
}

/** `serial`, then a rollback after the bundle it replaces: the release order of one policy's bundles (ADR 10). */
function isAfter(a: Manifest, b: Manifest): boolean {
  return a.serial !== b.serial ? a.serial > b.serial : a.rollback && !b.rollback;
}

function position(m: Manifest): string {
  return `serial ${m.serial}${m.rollback ? " rollback" : ""}, ${m.revision.slice(0, 19)}…`;
}
