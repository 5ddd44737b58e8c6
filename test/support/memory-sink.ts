// A telemetry sink that keeps events in memory, for tests that inspect them.
import type { TelemetryEvent, TelemetrySink } from "../../runtime/index.ts";

export class MemorySink implements TelemetrySink {
  events: TelemetryEvent[] = [];
  emit(e: TelemetryEvent): void {
    this.events.push(e);
  }
  stats() {
    return { sent: this.events.length, dropped: 0, queued: 0, failures: 0 };
  }
  async close(): Promise<void> {}
}
