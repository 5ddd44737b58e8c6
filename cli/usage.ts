// The usage error and reading the files that options name (keys, requests,
// credentials): what every command needs, apart from files.ts so that commands
// reading no policy (serve --bundle) do not load the compiler.
import { readFileSync } from "node:fs";

export class UsageError extends Error {}

export function readTextFile(filePath: string, what: string): string {
  try {
    return readFileSync(filePath, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${filePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function readJsonFile(filePath: string, what: string): unknown {
  const text = readTextFile(filePath, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} ${filePath} is not valid JSON: ${(err as Error).message}`);
  }
}
