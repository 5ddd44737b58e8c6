// Types for the ajv standalone validator that scripts/build-schema.ts generates.
import type { ErrorObject } from "ajv";

declare const validate: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
export default validate;
