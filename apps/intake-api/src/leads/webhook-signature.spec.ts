import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ProblemException } from '../common/problem';
import { WebhookSignatureVerifier } from './webhook-signature';

const OLD = `whsec_${randomBytes(32).toString('base64')}`;
const NEW = `whsec_${randomBytes(32).toString('base64')}`;
const verifier = new WebhookSignatureVerifier(new Map([['crm', [OLD, NEW]]]));
const body = Buffer.from('{"prospect":{"first_name":"Foo"}}');

function headers(secret: string, payload: Buffer | string = body, at = new Date(), id = 'msg_1') {
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(secret).sign(id, at, payload) };
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ProblemException);
    expect((error as ProblemException).getStatus()).toBe(401);
    return (error as ProblemException).message;
  }
  throw new Error('expected a 401');
}

describe('WebhookSignatureVerifier', () => {
  it('knows which sources sign', () => {
    expect(verifier.requiresSignature('crm')).toBe(true);
    expect(verifier.requiresSignature('other')).toBe(false);
  });

  it('accepts every configured secret and returns the webhook-id', () => {
    expect(verifier.verify('crm', body, headers(OLD))).toBe('msg_1');
    expect(verifier.verify('crm', body, headers(NEW, body, new Date(), 'msg_2'))).toBe('msg_2');
  });

  it('names the header at fault', () => {
    expect(refusal(() => verifier.verify('crm', body, {}))).toMatch(/^Missing webhook-id, webhook-timestamp, webhook-signature headers/);
    expect(refusal(() => verifier.verify('crm', body, { ...headers(NEW), 'webhook-signature': undefined }))).toMatch(/^Missing webhook-signature header:/);
    expect(refusal(() => verifier.verify('crm', body, { ...headers(NEW), 'webhook-id': 'has space' }))).toMatch(/webhook-id header must be/);
    expect(refusal(() => verifier.verify('crm', body, { ...headers(NEW), 'webhook-timestamp': '12abc' }))).toMatch(/webhook-timestamp header must be a Unix time/);
    expect(refusal(() => verifier.verify('crm', body, headers(NEW, body, new Date(Date.now() - 301_000))))).toMatch(/webhook-timestamp header is 30\d s old/);
    expect(refusal(() => verifier.verify('crm', body, headers(NEW, body, new Date(Date.now() + 400_000))))).toMatch(/webhook-timestamp header is \d+ s in the future/);
    expect(refusal(() => verifier.verify('crm', Buffer.from('{}'), headers(NEW)))).toMatch(/webhook-signature header matches no signing secret of source "crm"/);
    const stranger = `whsec_${randomBytes(32).toString('base64')}`;
    expect(refusal(() => verifier.verify('crm', body, headers(stranger)))).toMatch(/webhook-signature/);
  });

  it('never echoes a secret', () => {
    const message = refusal(() => verifier.verify('crm', Buffer.from('{}'), headers(NEW)));
    expect(message).not.toContain(NEW.slice(6));
    expect(message).not.toContain(OLD.slice(6));
  });
});
