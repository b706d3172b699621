import { WeGroupScope } from '../scopes';

export type ConnectionStatus = 'active' | 'needs_reauth';

/** The WeGroup account behind a connection, from /userinfo. */
export interface ConnectionUser {
  uid: string | null;
  email: string | null;
  username: string | null;
  role: string | null;
}

/** A connection as the API shows it: never any token. */
export interface ConnectionView {
  id: string;
  distribution_id: string;
  broker_id: string | null;
  user: ConnectionUser;
  /** Scopes WeGroup granted, from the token response. */
  scopes: string[];
  /** Granted on paper, but WeGroup answered 403 when we relied on them. */
  denied_scopes: string[];
  features: ConnectionFeature[];
  access_expires_at: string | null;
  has_refresh_token: boolean;
  status: ConnectionStatus;
  last_error: string | null;
  created_at: string;
  updated_at: string;
}

export interface ConnectionFeature {
  feature: string;
  scope: WeGroupScope;
  enabled: boolean;
  description: string;
}

/** A connection with its tokens, for the worker only. */
export interface ConnectionSecrets {
  accessToken: string | null;
  refreshToken: string | null;
  accessIssuedAt: number;
  accessExpiresAt: number;
}

/** What the service does with which scope. */
export const SCOPE_FEATURES: Array<Omit<ConnectionFeature, 'enabled'>> = [
  { feature: 'push_leads', scope: 'leads:write', description: 'Deliver leads to this distribution.' },
  { feature: 'stay_connected', scope: 'offline', description: 'Refresh tokens: keep delivering after the access token expires.' },
  { feature: 'identify_account', scope: 'openid', description: 'Read the distribution, broker and user from /userinfo.' },
];

export function effectiveScopes(view: Pick<ConnectionView, 'scopes' | 'denied_scopes'>): string[] {
  return view.scopes.filter((scope) => !view.denied_scopes.includes(scope));
}

export function featuresFor(view: Pick<ConnectionView, 'scopes' | 'denied_scopes'>): ConnectionFeature[] {
  const scopes = effectiveScopes(view);
  return SCOPE_FEATURES.map((f) => ({ ...f, enabled: scopes.includes(f.scope) || (f.scope === 'leads:write' && scopes.includes('api')) }));
}
