import { featuresFor } from '../sso/connection';
import { ApiTokenAuthProvider } from './api-token.auth-provider';
import { RoutingAuthProvider } from './routing.auth-provider';
import { WeGroupAuthProvider } from './wegroup-auth';

const sso: WeGroupAuthProvider = {
  credentialsFor: async (did) => ({ scheme: 'bearer', credential: `token-for-${did}`, scopes: ['leads:write'], label: 'sso' }),
};
const token = { distributionId: 'd-token', provider: new ApiTokenAuthProvider('tok', ['leads:write']) };

describe('RoutingAuthProvider', () => {
  it('uses the API token for its own distribution and SSO for every other', async () => {
    const routing = new RoutingAuthProvider(token, sso);
    expect((await routing.credentialsFor('d-token')).scheme).toBe('apikey');
    expect(await routing.credentialsFor('d-other')).toMatchObject({ scheme: 'bearer', credential: 'token-for-d-other' });
  });

  it('sends everything through the token without SSO, and everything through SSO without a token', async () => {
    expect((await new RoutingAuthProvider(token, null).credentialsFor('d-other')).scheme).toBe('apikey');
    expect((await new RoutingAuthProvider(null, sso).credentialsFor('d-token')).scheme).toBe('bearer');
  });

  it('has nothing to renew for an API token', async () => {
    const routing = new RoutingAuthProvider(token, sso);
    expect(await routing.renewAfterUnauthorized('d-token', await routing.credentialsFor('d-token'))).toBeNull();
  });
});

describe('connection features', () => {
  it('says which features the granted scopes enable, minus scopes WeGroup refused', () => {
    const features = featuresFor({ scopes: ['openid', 'leads:write'], denied_scopes: [] });
    expect(features.map((f) => [f.feature, f.enabled])).toEqual([
      ['push_leads', true],
      ['stay_connected', false],
      ['identify_account', true],
    ]);
    expect(featuresFor({ scopes: ['openid', 'leads:write'], denied_scopes: ['leads:write'] })[0].enabled).toBe(false);
    expect(featuresFor({ scopes: ['api'], denied_scopes: [] })[0].enabled).toBe(true);
  });
});
