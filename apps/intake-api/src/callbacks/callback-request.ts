import { CALLBACK_PATH_PREFIX, MAX_CALLBACK_BODY_BYTES } from '@app/leads';

/** The route WeGroup posts its callbacks about a lead to (as Fastify registers it, versioned). */
export const CALLBACK_ROUTE = `${CALLBACK_PATH_PREFIX}/:leadId/:token`;

/** 64 KB: a status update is a few hundred bytes; what is stored per callback is capped the same. */
export const CALLBACK_BODY_LIMIT_BYTES = MAX_CALLBACK_BODY_BYTES;
