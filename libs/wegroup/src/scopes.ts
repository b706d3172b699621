/**
 * WeGroup's scope table (see the authentication page). API tokens are issued with a fixed
 * subset; `api`, `offline` and `openid` exist only for SSO connections.
 */
export const WEGROUP_SCOPES = [
  'api',
  'offline',
  'openid',
  'leads:write',
  'leads:read',
  'parties:update',
  'parties:read',
  'vehicle:read',
  'address:read',
  'enterprise:read',
] as const;

export type WeGroupScope = (typeof WEGROUP_SCOPES)[number];

export const SSO_ONLY_SCOPES: readonly WeGroupScope[] = ['api', 'offline', 'openid'];

export const API_TOKEN_SCOPES: readonly WeGroupScope[] = WEGROUP_SCOPES.filter((s) => !SSO_ONLY_SCOPES.includes(s));

/** The scope a lead push needs. `api` (full access, SSO only) implies it. */
export const PUSH_LEAD_SCOPE: WeGroupScope = 'leads:write';

export function grants(scopes: readonly string[], needed: WeGroupScope): boolean {
  return scopes.includes(needed) || scopes.includes('api');
}
