// Types for the ajv standalone validators that scripts/build-schema.ts generates (one export per schema key).
import type { ErrorObject } from "ajv";

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
declare const validators: Record<string, Validator>;
export = validators;
