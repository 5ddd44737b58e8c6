// The bundle the sidecar enforces. A bundle becomes active only when it is
// canonical, matches its schema, hashes to its revision and carries a
// signature by a trusted key; anything else is rejected and the last known
// good bundle stays active. The last known good bundle is kept on disk, so a
// restart with a broken or missing bundle file still serves the old policy.
import { mkdirSync, readFileSync, renameSync, watch, writeFileSync, type FSWatcher } from "node:fs";
import path from "node:path";
import { describeBundleReadError, readBundle, serializeBundle, verifyBundleSignature, type Action, type Bundle, type ModelSpec } from "../../bundle/index.ts";
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
  onChange?: (active: ActiveBundle) => void;
  onReject?: (rejection: Rejection) => void;
}

const LAST_GOOD = "last-known-good.bundle.json";

export class BundleStore {
  private active: ActiveBundle | null = null;
  private lastRejection: Rejection | null = null;
  private watcher: FSWatcher | null = null;
  private reloading: Promise<void> = Promise.resolve();
  private readonly options: BundleStoreOptions;
  rejections = 0;

  constructor(options: BundleStoreOptions) {
    this.options = options;
  }

  get current(): ActiveBundle | null {
    return this.active;
  }

  get rejection(): Rejection | null {
    return this.lastRejection;
  }

  /** Verifies and activates bundle text; returns why it was rejected, or null when it is active. */
  async offer(text: string, source: string, { requireSignature = true } = {}): Promise<string | null> {
    const read = readBundle(text);
    if (!read.ok) return this.reject(source, describeBundleReadError(read.error));
    if (requireSignature) {
      if (this.options.trustedKeys.length === 0) return this.reject(source, "no trusted public key is configured (--public-key), so no signed bundle can be verified");
      const verified = verifyBundleSignature(read.bundle, this.options.trustedKeys);
      if (!verified.ok) return this.reject(source, `signature: ${verified.detail}`);
    }
    if (this.active?.bundle.manifest.revision === read.bundle.manifest.revision) return null;
    const engine = await Engine.load(read.bundle);
    // The swap is one assignment: requests in flight keep the engine they started with.
    const { policy } = read.bundle;
    const actions = new Map<string, Action>(policy.routes.map((r) => [r.name, r.action]));
    if (policy.default) actions.set("default", policy.default);
    this.active = { bundle: read.bundle, engine, models: new Map(policy.models.map((m) => [m.name, m])), actions, source, activatedAt: new Date() };
    if (requireSignature) this.persist(read.bundle);
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

  private persist(bundle: Bundle): void {
    if (!this.options.stateDir) return;
    mkdirSync(this.options.stateDir, { recursive: true });
    const target = path.join(this.options.stateDir, LAST_GOOD);
    // Write then rename: a crash never leaves half a bundle behind.
    writeFileSync(`${target}.tmp`, serializeBundle(bundle));
    renameSync(`${target}.tmp`, target);
  }
}
