import { configure } from 'safe-stable-stringify';

/**
 * JSON text with object keys sorted, so key order does not make two bodies different: the
 * input of a lead's `body_hash`, which an idempotent replay must match. Its output must never
 * change, or a replay of a lead already stored would be refused as a different body.
 */
export const canonicalJson: (value: unknown) => string = configure({ deterministic: true, circularValue: TypeError }) as (value: unknown) => string;
