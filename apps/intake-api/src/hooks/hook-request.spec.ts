import { SourceDefinition } from '@app/sources';
import { authenticatesByHeaders, bodyTypesOf, HOOK_ROUTE, nativeDedupId, nativeRequestOf, PREVIEW_ROUTE, requestOrigin } from './hook-request';

const received = { method: 'POST', url: '/v1/hooks/hs?x=1', headers: { host: 'intake.local:3000' }, query: { x: '1' }, body: { a: 1 }, rawBody: Buffer.from('{"a":1}') };

describe('hook requests', () => {
  it('takes JSON, forms and XML on the hook route, JSON and XML on the preview, JSON elsewhere', () => {
    const hook = bodyTypesOf(HOOK_ROUTE);
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/x-www-form-urlencoded', 'text/xml; charset=utf-8', 'application/xml', 'application/soap+xml']) {
      expect({ type, ok: hook.accepts(type) }).toEqual({ type, ok: true });
    }
    for (const type of ['text/plain', 'multipart/form-data; boundary=x', 'text/xmlx', 'application/x-www-form-urlencodedx']) {
      expect({ type, ok: hook.accepts(type) }).toEqual({ type, ok: false });
    }
    const preview = bodyTypesOf(PREVIEW_ROUTE);
    expect([preview.accepts('text/xml'), preview.accepts('application/json'), preview.accepts('application/x-www-form-urlencoded')]).toEqual([true, true, false]);
    const other = bodyTypesOf('/v1/leads');
    expect([other.accepts('application/json'), other.accepts('text/xml'), other.accepts('application/x-www-form-urlencoded')]).toEqual([true, false, false]);
    expect(bodyTypesOf(undefined).names).toBe('application/json');
  });

  it('gives the adapter the URL the platform called: PUBLIC_BASE_URL + path when set, else the forwarded scheme and Host', () => {
    expect(nativeRequestOf(received, 'https://leads.example.com').url).toBe('https://leads.example.com/v1/hooks/hs?x=1');
    expect(nativeRequestOf(received, null).url).toBe('http://intake.local:3000/v1/hooks/hs?x=1');
    expect(requestOrigin({ host: 'a.example', 'x-forwarded-proto': 'https, http' })).toBe('https://a.example');
    // Only http or https: a header cannot make the URL something else.
    expect(requestOrigin({ host: 'a.example', 'x-forwarded-proto': 'javascript' })).toBe('http://a.example');
    const request = nativeRequestOf(received, null);
    expect(request).toMatchObject({ method: 'POST', query: { x: '1' }, body: { a: 1 }, rawBody: received.rawBody, headers: received.headers });
  });

  it('deduplicates per source and event id, apart from the lead routes\' keys', () => {
    expect(nativeDedupId('hs', '1')).toBe(nativeDedupId('hs', '1'));
    expect(nativeDedupId('hs', '1')).not.toBe(nativeDedupId('hs2', '1'));
    expect(nativeDedupId('hs', '1')).not.toBe(nativeDedupId('hs', '2'));
    expect(nativeDedupId('hs', '1')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('knows which types prove themselves with headers alone', () => {
    const source = (credentials: SourceDefinition['credentials']): SourceDefinition => ({ name: 's', type: credentials.type, declaredIn: 'SOURCES_FILE', credentials });
    expect(authenticatesByHeaders(source({ type: 'pipedrive', basic_auth: { username: 'u', password: 'p' } }))).toBe(true);
    expect(authenticatesByHeaders(source({ type: 'zoho', token: 't' }))).toBe(true);
    expect(authenticatesByHeaders(source({ type: 'dynamics', token: 't' }))).toBe(true);
    expect(authenticatesByHeaders(source({ type: 'json', api_key: 'k', webhook_secrets: [] }))).toBe(true);
    expect(authenticatesByHeaders(source({ type: 'hubspot', api_key: 'k' }))).toBe(true);
    expect(authenticatesByHeaders(source({ type: 'hubspot', client_secret: 's', api_key: 'k' }))).toBe(false);
    expect(authenticatesByHeaders(source({ type: 'typeform', secret: 's' }))).toBe(false);
    expect(authenticatesByHeaders(source({ type: 'facebook', app_secret: 'a', verify_token: 'v', page_access_token: 'p' }))).toBe(false);
    expect(authenticatesByHeaders(source({ type: 'salesforce', organization_id: '00D000000000001' }))).toBe(false);
  });
});
