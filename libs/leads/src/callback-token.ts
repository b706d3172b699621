import { timingSafeEqual } from 'node:crypto';
import { Keyring } from '@app/config';
import { LeadBody } from './lead-job';

/**
 * WeGroup's callbacks about a lead come to a URL of ours that only we can make: its last
 * segment is an HMAC of the lead id under a key derived from DATA_ENCRYPTION_KEY for this
 * purpose alone. WeGroup documents no signature of its callbacks, so the URL is the only
 * proof: a guessed one is refused, and a token says nothing about another lead's.
 */
const PURPOSE = 'wegroup-callback';

/** Where WeGroup posts its callbacks, below PUBLIC_BASE_URL. */
export const CALLBACK_PATH_PREFIX = '/v1/callbacks/wegroup';

/** A token is 32 bytes of HMAC, base64url without padding. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** WeGroup takes at most this many callback URLs per prospect (the lead rules' cap). */
export const MAX_PROSPECT_CALLBACKS = 20;

/** The token of this lead's callback URL, under the current key. */
export function callbackToken(keyring: Keyring, leadId: string): string {
  return keyring.purposeMacs(PURPOSE, `callback:${leadId}`)[0].toString('base64url');
}

/**
 * Whether `token` is this lead's, under the current key or an older one (a key rotation keeps
 * the URLs handed out before it valid). Compared in constant time.
 */
export function verifyCallbackToken(keyring: Keyring, leadId: string, token: string): boolean {
  if (!TOKEN_PATTERN.test(token)) return false;
  const given = Buffer.from(token, 'base64url');
  let match = false;
  // Every key is tried, whichever matches: the time taken does not tell which.
  for (const expected of keyring.purposeMacs(PURPOSE, `callback:${leadId}`)) if (timingSafeEqual(expected, given)) match = true;
  return match;
}

/** `{publicBaseUrl}/v1/callbacks/wegroup/{leadId}/{token}`. */
export function callbackUrl(keyring: Keyring, publicBaseUrl: string, leadId: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}${CALLBACK_PATH_PREFIX}/${encodeURIComponent(leadId)}/${callbackToken(keyring, leadId)}`;
}

/**
 * The lead as pushed to WeGroup: our callback URL after the CRM's own (kept as they are, in
 * their order). `full`: the prospect has WeGroup's maximum of URLs already, so ours is left
 * out rather than one of the CRM's. The lead given is never changed.
 */
export function withCallbackUrl(lead: LeadBody, url: string): { lead: LeadBody; added: boolean; full: boolean } {
  const prospect = lead.prospect as LeadBody['prospect'] | undefined;
  // A lead WeGroup will refuse anyway is sent as it is, not made over.
  if (prospect === null || typeof prospect !== 'object' || (prospect.callbacks !== undefined && !Array.isArray(prospect.callbacks))) {
    return { lead, added: false, full: false };
  }
  const own = prospect.callbacks ?? [];
  if (own.includes(url)) return { lead, added: false, full: false };
  if (own.length >= MAX_PROSPECT_CALLBACKS) return { lead, added: false, full: true };
  return { lead: { ...lead, prospect: { ...prospect, callbacks: [...own, url] } }, added: true, full: false };
}
