// A real Apache Kafka broker for the tests: resolved from Maven Central with
// the maven-dependency-plugin, a single KRaft node (broker and controller in
// one process) on 127.0.0.1 with a small heap.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { cacheDir, run, startProcess, step, stopProcess, waitFor, type Started } from "./steps.ts";
import { freePort } from "./ports.ts";

export const KAFKA_VERSION = "4.1.1";
const LOG4J_VERSION = "2.24.3";

/** Resolves the broker and its runtime dependencies into the cache; idempotent. */
export async function provisionKafka(version = KAFKA_VERSION): Promise<string> {
  const dir = cacheDir("kafka", version);
  const lib = path.join(dir, "lib");
  if (existsSync(path.join(lib, `kafka_2.13-${version}.jar`))) return lib;
  await step(`kafka ${version}: resolving org.apache.kafka:kafka_2.13 and its runtime dependencies from Maven Central`, () => {
    // A throwaway pom: nothing of Kafka's is committed to this repository.
    writeFileSync(path.join(dir, "pom.xml"), `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.routeplane.e2e</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${version}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
`);
    rmSync(lib, { recursive: true, force: true });
    run("mvn", ["-B", "-q", "-f", path.join(dir, "pom.xml"), "dependency:copy-dependencies", `-DoutputDirectory=${lib}`, "-DincludeScope=runtime"], { what: "resolving Kafka with Maven" });
  });
  return lib;
}

export interface KafkaBroker extends Started {
  brokers: string; // host:port
  dataDir: string;
  stop(): Promise<void>;
  /** Stops the broker process and keeps its data: an outage. */
  halt(): Promise<void>;
  /** Starts it again on the same port and data: the outage ends. */
  resume(): Promise<void>;
}

const LOG4J_CONFIG = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raft.name = kafka.server.KafkaRaftServer
logger.raft.level = info
`;

/** Formats fresh KRaft storage in a temp directory and starts the broker; resolves when it accepts connections. */
export async function startKafka(lib: string, options: { heapMb?: number; startTimeoutMs?: number } = {}): Promise<KafkaBroker> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "routeplane-kafka-"));
  const port = await freePort();
  const controllerPort = await freePort();
  const props = path.join(dataDir, "server.properties");
  const log4j = path.join(dataDir, "log4j2.properties");
  mkdirSync(path.join(dataDir, "logs"));
  writeFileSync(log4j, LOG4J_CONFIG);
  writeFileSync(props, [
    "process.roles=broker,controller",
    "node.id=1",
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names=CONTROLLER",
    "inter.broker.listener.name=PLAINTEXT",
    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
    `log.dirs=${path.join(dataDir, "logs")}`,
    "num.partitions=1",
    "offsets.topic.replication.factor=1",
    "offsets.topic.num.partitions=4",
    "transaction.state.log.replication.factor=1",
    "transaction.state.log.min.isr=1",
    "share.coordinator.state.topic.replication.factor=1",
    "share.coordinator.state.topic.min.isr=1",
    "group.initial.rebalance.delay.ms=0",
    "auto.create.topics.enable=false",
    "",
  ].join("\n"));
  const heap = options.heapMb ?? 384;
  const java = (main: string, args: string[]) => ["-Xms128m", `-Xmx${heap}m`, "-XX:+UseSerialGC", `-Dlog4j2.configurationFile=${log4j}`, "-cp", `${lib}/*`, main, ...args];
  await step("kafka: formatting KRaft storage", () => {
    // A cluster id is a random UUID in unpadded base64url, what `kafka-storage random-uuid` prints.
    const clusterId = Buffer.from(randomUUID().replace(/-/g, ""), "hex").toString("base64url");
    run("java", java("kafka.tools.StorageTool", ["format", "--standalone", "-t", clusterId, "-c", props]), { what: "kafka storage format" });
  });
  const logFile = path.join(dataDir, "kafka.log");
  let proc = startProcess("kafka", "java", java("kafka.Kafka", [props]), logFile);
  const broker: KafkaBroker = {
    ...proc,
    brokers: `127.0.0.1:${port}`,
    dataDir,
    stop: async () => {
      await stopProcess(proc.pid);
      rmSync(dataDir, { recursive: true, force: true });
    },
    halt: () => stopProcess(proc.pid),
    resume: async () => {
      proc = startProcess("kafka", "java", java("kafka.Kafka", [props]), logFile);
      broker.pid = proc.pid;
      await waitFor(proc, () => accepts(port), options.startTimeoutMs ?? 90_000);
    },
  };
  try {
    await step(`kafka: starting broker on 127.0.0.1:${port} (pid ${proc.pid})`, () => waitFor(proc, () => accepts(port), options.startTimeoutMs ?? 90_000));
  } catch (err) {
    await broker.stop();
    throw err;
  }
  return broker;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
