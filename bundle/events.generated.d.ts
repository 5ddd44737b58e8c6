// Types for the ajv standalone validators that scripts/build-schema.ts generates.
import type { ErrorObject } from "ajv";

type Validator = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };
export declare const validateRouting: Validator;
export declare const validateFeedback: Validator;
