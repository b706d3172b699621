/** DI token of the {@link SandboxOptions} the app was created with. */
export const SANDBOX_OPTIONS = Symbol('SANDBOX_OPTIONS');

/** The Fastify route of WeGroup's lead endpoint, as Nest registers it. */
export const LEAD_ROUTE = '/v1/api/distributions/:distribution_id/leads/customers';

/** Largest request body the sandbox reads (1 MB), like a typical API gateway in front of WeGroup. */
export const SANDBOX_BODY_LIMIT = 1024 * 1024;

/** Upper bound for any delay (global or per fault): 10 minutes. */
export const MAX_DELAY_MS = 600_000;

/** Longest distribution id the router accepts in the path (libs/config allows 128). */
export const MAX_PARAM_LENGTH = 256;
