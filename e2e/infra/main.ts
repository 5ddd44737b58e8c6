// Start and stop the test infrastructure by hand:
//   node e2e/infra/main.ts provision       build/resolve everything into the cache
//   node e2e/infra/main.ts up [kafka|kube]  start, print the environment to export
//   node e2e/infra/main.ts down             stop what `up` started, remove its temp dirs
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { provisionKafka, startKafka, KAFKA_VERSION } from "./kafka.ts";
import { provisionKube, startKube, KUBERNETES_VERSION } from "./kube.ts";
import { log, rssMiB, stopProcess } from "./steps.ts";

const stateFile = path.join(process.env.ROUTEPLANE_CACHE ?? path.join(homedir(), ".cache", "routeplane"), "run", "state.json");

interface State {
  pids: { name: string; pid: number; logFile: string }[];
  dirs: string[];
  env: Record<string, string>;
}

async function main(): Promise<number> {
  const [cmd, which] = process.argv.slice(2);
  const wantKafka = which === undefined || which === "kafka";
  const wantKube = which === undefined || which === "kube";
  switch (cmd) {
    case "provision":
      if (wantKafka) log(`kafka libraries: ${await provisionKafka(KAFKA_VERSION)}`);
      if (wantKube) {
        const b = await provisionKube(KUBERNETES_VERSION);
        log(`kube-apiserver ${b.version}: ${b.kubeApiserver}; kubectl ${b.version}: ${b.kubectl}; etcd ${b.etcdVersion}: ${b.etcd}`);
      }
      return 0;
    case "up": {
      if (existsSync(stateFile)) throw new Error(`already up (${stateFile}); run \`down\` first`);
      const state: State = { pids: [], dirs: [], env: {} };
      if (wantKafka) {
        const k = await startKafka(await provisionKafka(KAFKA_VERSION));
        state.pids.push({ name: k.name, pid: k.pid, logFile: k.logFile });
        state.dirs.push(k.dataDir);
        state.env.KAFKA_BROKERS = k.brokers;
      }
      if (wantKube) {
        const c = await startKube(await provisionKube(KUBERNETES_VERSION));
        state.pids.push(...c.processes.map((p) => ({ name: p.name, pid: p.pid, logFile: p.logFile })));
        state.dirs.push(c.workDir);
        state.env.KUBECONFIG = c.kubeconfig;
        state.env.ROUTEPLANE_KUBECTL = c.kubectl;
      }
      mkdirSync(path.dirname(stateFile), { recursive: true });
      writeFileSync(stateFile, JSON.stringify(state, null, 2));
      for (const p of state.pids) log(`${p.name}: pid ${p.pid}, ${rssMiB(p.pid)?.toFixed(0) ?? "?"} MiB, log ${p.logFile}`);
      for (const [k, v] of Object.entries(state.env)) console.log(`export ${k}=${v}`);
      return 0;
    }
    case "down": {
      if (!existsSync(stateFile)) {
        log("nothing is up");
        return 0;
      }
      const state = JSON.parse(readFileSync(stateFile, "utf8")) as State;
      for (const p of [...state.pids].reverse()) {
        await stopProcess(p.pid);
        log(`stopped ${p.name} (pid ${p.pid})`);
      }
      for (const d of state.dirs) rmSync(d, { recursive: true, force: true });
      rmSync(stateFile);
      return 0;
    }
    default:
      console.error("usage: node e2e/infra/main.ts provision|up|down [kafka|kube]");
      return 2;
  }
}

main().then(
  (code) => (process.exitCode = code),
  (err: Error) => {
    console.error(`infra: ${err.message}`);
    process.exitCode = 1;
  },
);
