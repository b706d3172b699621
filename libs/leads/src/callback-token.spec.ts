import { randomBytes, randomUUID } from 'node:crypto';
import { Keyring } from '@app/config';
import { callbackToken, callbackUrl, MAX_PROSPECT_CALLBACKS, verifyCallbackToken, withCallbackUrl } from './callback-token';
import { LeadBody } from './lead-job';

describe('callback tokens', () => {
  const old = { id: 'k2025', key: randomBytes(32) };
  const current = { id: 'k2026', key: randomBytes(32) };
  const keyring = new Keyring(current, [old]);
  const leadId = randomUUID();

  it('is 43 base64url characters, the same for a lead each time, another for another lead', () => {
    const token = callbackToken(keyring, leadId);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(callbackToken(keyring, leadId)).toBe(token);
    expect(callbackToken(keyring, randomUUID())).not.toBe(token);
    expect(verifyCallbackToken(keyring, leadId, token)).toBe(true);
  });

  it('is derived for callbacks alone: not the keyring digest of the same text, nor a MAC under the sealing key', () => {
    const token = callbackToken(keyring, leadId);
    expect(Buffer.from(keyring.digest(`callback:${leadId}`), 'hex').toString('base64url')).not.toBe(token);
    expect(keyring.purposeMacs('another-purpose', `callback:${leadId}`)[0].toString('base64url')).not.toBe(token);
  });

  it('verifies a token made under an older key after rotation, and refuses it once that key is gone', () => {
    const before = callbackToken(new Keyring(old), leadId);
    expect(before).not.toBe(callbackToken(keyring, leadId));
    expect(verifyCallbackToken(keyring, leadId, before)).toBe(true);
    expect(verifyCallbackToken(new Keyring(current), leadId, before)).toBe(false);
  });

  it("refuses another lead's token, a tampered token, and anything not shaped like a token", () => {
    const token = callbackToken(keyring, leadId);
    expect(verifyCallbackToken(keyring, randomUUID(), token)).toBe(false);
    const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
    expect(verifyCallbackToken(keyring, leadId, flipped)).toBe(false);
    for (const bad of ['', token.slice(0, 42), `${token}A`, `${token.slice(0, 42)}=`, `${token.slice(0, 42)}+`, 'x'.repeat(4096)]) {
      expect(verifyCallbackToken(keyring, leadId, bad)).toBe(false);
    }
    expect(verifyCallbackToken(new Keyring({ id: 'other', key: randomBytes(32) }), leadId, token)).toBe(false);
  });

  it('builds the URL under PUBLIC_BASE_URL', () => {
    expect(callbackUrl(keyring, 'https://leads.example.com/', leadId)).toBe(`https://leads.example.com/v1/callbacks/wegroup/${leadId}/${callbackToken(keyring, leadId)}`);
  });
});

describe('withCallbackUrl', () => {
  const OURS = 'https://leads.example.com/v1/callbacks/wegroup/lead-1/token';
  const lead = (callbacks?: unknown): LeadBody => ({ origin: 'CRM', prospect: { first_name: 'Foo', last_name: 'Bar', ...(callbacks === undefined ? {} : { callbacks: callbacks as string[] }) } });

  it("adds ours after the CRM's own URLs, in their order, and leaves the lead it was given as it was", () => {
    const given = lead(['https://crm.example.com/a', 'https://crm.example.com/b']);
    const copy = structuredClone(given);
    const { lead: pushed, added } = withCallbackUrl(given, OURS);
    expect(added).toBe(true);
    expect(pushed.prospect.callbacks).toEqual(['https://crm.example.com/a', 'https://crm.example.com/b', OURS]);
    expect(pushed).toMatchObject({ origin: 'CRM', prospect: { first_name: 'Foo', last_name: 'Bar' } });
    expect(given).toEqual(copy);
    expect(withCallbackUrl(lead(), OURS).lead.prospect.callbacks).toEqual([OURS]);
  });

  it('adds it once, and not at all to a prospect with the maximum of URLs, nor to a malformed one', () => {
    expect(withCallbackUrl(lead([OURS]), OURS)).toEqual({ lead: lead([OURS]), added: false, full: false });
    const full = lead(Array.from({ length: MAX_PROSPECT_CALLBACKS }, (_, n) => `https://crm.example.com/${n}`));
    expect(withCallbackUrl(full, OURS)).toEqual({ lead: full, added: false, full: true });
    expect(withCallbackUrl(lead('https://crm.example.com/a'), OURS).added).toBe(false);
    expect(withCallbackUrl({ origin: 'CRM' } as unknown as LeadBody, OURS).added).toBe(false);
  });
});
