import fc from 'fast-check';
import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import {
  distributionId,
  INTAKE_KEY,
  lead,
  OTHER_SOURCE_KEY,
  SandboxControl,
  Stack,
  StartedSandbox,
  startStackWithSandbox,
  stopStackWithSandbox,
} from './support/stack';
import { waitFor } from './support/wait';

/**
 * Edges an attacker (or an unlucky CRM) reaches with one request: signed requests replayed with
 * an added Idempotency-Key or against another lead, answers out of proportion to the request,
 * and fields accepted but then changed or lost on the way to WeGroup.
 */

const SIGNED_KEY = 'signed-edges-key-0123456789';
const SECRET = `whsec_${randomBytes(32).toString('base64')}`;

type Json = Record<string, any>;
interface Answer {
  status: number;
  headers: Headers;
  body: Json;
  bytes: number;
}

function signed(payload: string, { id = `msg_${randomUUID()}`, at = new Date() } = {}): Record<string, string> {
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': new Webhook(SECRET).sign(id, at, payload) };
}

async function send(url: string, method: string, body: string | undefined, headers: Record<string, string>): Promise<Answer> {
  const response = await fetch(url, { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers }, body });
  const text = await response.text();
  let parsed: Json = {};
  try {
    parsed = JSON.parse(text) as Json;
  } catch {
    parsed = { text };
  }
  return { status: response.status, headers: response.headers, body: parsed, bytes: Buffer.byteLength(text) };
}

describe('intake edges: one request, no bypass, proportionate answers, nothing changed on the way', () => {
  let sandbox: StartedSandbox;
  let control: SandboxControl;
  let stack: Stack;

  beforeAll(async () => {
    ({ sandbox, control, stack } = await startStackWithSandbox('edges', {
      INTAKE_API_KEYS: `test-crm:${INTAKE_KEY},other-crm:${OTHER_SOURCE_KEY},signed-crm:${SIGNED_KEY}`,
      INTAKE_WEBHOOK_SECRETS: `signed-crm:${SECRET}`,
    }));
  });
  afterAll(() => stopStackWithSandbox({ sandbox, stack }));

  const post = (body: string, headers: Record<string, string> = { 'x-api-key': INTAKE_KEY }) => send(`${stack.url}/v1/leads`, 'POST', body, headers);
  const postBatch = (body: string) => send(`${stack.url}/v1/leads/batch`, 'POST', body, { 'x-api-key': INTAKE_KEY });

  describe('signed requests cannot be replayed into something new', () => {
    it('a captured signed post replayed with added Idempotency-Keys makes no new lead: the webhook-id stays the key', async () => {
      const did = distributionId();
      const body = JSON.stringify(lead({ distribution_id: did }));
      const captured = { 'x-api-key': SIGNED_KEY, ...signed(body) };
      const first = await post(body, captured);
      expect(first.status).toBe(202);
      const replays = [];
      for (let i = 0; i < 3; i++) replays.push(await post(body, { ...captured, 'idempotency-key': `attacker-${i}-${randomUUID()}` }));
      expect(replays.map((answer) => [answer.status, answer.body.id])).toEqual(replays.map(() => [200, first.body.id]));
      const path = `/v1/leads/${first.body.id}`;
      await waitFor('the lead to be delivered', async () => {
        const view = await send(`${stack.url}${path}`, 'GET', undefined, { 'x-api-key': SIGNED_KEY, ...signed(`GET ${path}`) });
        return view.body.status === 'delivered';
      });
      await stack.waitUntilDrained();
      expect(await control.requests(did)).toHaveLength(1);
    });

    it('a signed GET covers the lead it reads: its signature does not open another lead', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const body = JSON.stringify(lead());
        ids.push((await post(body, { 'x-api-key': SIGNED_KEY, ...signed(body) })).body.id);
      }
      const get = (id: string, headers: Record<string, string>) => send(`${stack.url}/v1/leads/${id}`, 'GET', undefined, { 'x-api-key': SIGNED_KEY, ...headers });
      const forFirst = signed(`GET /v1/leads/${ids[0]}`);
      expect((await get(ids[0], forFirst)).status).toBe(200);
      const other = await get(ids[1], forFirst);
      expect(other.status).toBe(401);
      expect(other.body.detail).toMatch(/webhook-signature/);
      // The empty body alone is no longer what a GET signs.
      expect((await get(ids[1], signed(''))).status).toBe(401);
    });
  });

  describe('answers and work proportional to the request', () => {
    const unknownFields = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`unknown_field_${i}`, 'x'.repeat(20)]));

    it('lists at most 20 problems of a lead, with the same messages, and says how many more there were', async () => {
      const body = JSON.stringify({ ...lead(), ...unknownFields(4_900) });
      expect(Buffer.byteLength(body)).toBeGreaterThan(200_000);
      const answer = await post(body);
      expect(answer.status).toBe(400);
      expect(answer.body.errors).toHaveLength(20);
      expect(answer.body.errors[0]).toEqual({ field: 'unknown_field_0', message: 'unknown_field_0 is not a known field' });
      expect(answer.body.detail).toMatch(/^Invalid request body: 4900 problems in unknown_field_0, .*unknown_field_19; 4880 more not listed\.$/);
      expect(answer.bytes).toBeLessThan(8_000);
    });

    it('caps the problems of a batch per lead and in all, and still answers every lead', async () => {
      const leads = Array.from({ length: 400 }, () => ({ ...lead(), ...unknownFields(200) }));
      const answer = await postBatch(JSON.stringify({ leads }));
      expect(answer.status).toBe(207);
      expect(answer.body.results).toHaveLength(400);
      expect(answer.body.rejected).toBe(400);
      const listed = (answer.body.results as Json[]).reduce((sum, result) => sum + result.errors.length, 0);
      expect(listed).toBeLessThanOrEqual(1_000);
      expect(answer.body.results[0].errors).toHaveLength(20);
      expect(answer.body.results[0].errors[0]).toEqual({ field: 'leads[0].unknown_field_0', message: 'leads[0].unknown_field_0 is not a known field' });
      expect(answer.body.results[0].detail).toMatch(/^Invalid lead: 200 problems in .*; 180 more not listed\.$/);
      expect(answer.body.results[399].errors).toEqual([]);
      expect(answer.body.results[399].detail).toMatch(/^Invalid lead: 200 problems; not listed \(an answer lists at most 1000\)\.$/);
      expect(answer.bytes).toBeLessThan(300_000);
    });

    it('refuses a batch with more fields in all than 500 real leads would have, naming leads', async () => {
      const tiny = Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`k${i}`, 0]));
      const answer = await postBatch(JSON.stringify({ leads: Array.from({ length: 500 }, () => lead({}, tiny)) }));
      expect(answer.status).toBe(400);
      expect(answer.body.errors).toEqual([{ field: 'leads', message: expect.stringMatching(/^leads has more than 100000 fields and array items in all/) }]);
    });
  });

  describe('every accepted field reaches WeGroup unchanged, or the lead is refused', () => {
    it('refuses what would be changed or lost, naming the field', async () => {
      for (const name of ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf']) {
        const answer = await post(JSON.stringify(lead({}, { [name]: 'x' })));
        expect([name, answer.status, answer.body.errors]).toEqual([
          name,
          400,
          [{ field: `prospect.${name}`, message: `prospect.${name} is a reserved name (a member of every JavaScript object); rename the field` }],
        ]);
      }
      // Keys the JSON parser itself refuses (prototype poisoning) are named the same way, at any depth.
      for (const [text, field] of [
        ['{"prospect":{"first_name":"A","last_name":"B","phone":{"__proto__":true}}}', 'prospect.phone.__proto__'],
        ['{"__proto__":{"x":1},"prospect":{"first_name":"A","last_name":"B"}}', '__proto__'],
        ['{"prospect":{"first_name":"A","last_name":"B","notes":{"constructor":{"prototype":{"x":1}}}}}', 'prospect.notes.constructor'],
      ]) {
        const answer = await post(text);
        expect([field, answer.status, answer.body.errors]).toEqual([
          field,
          400,
          [{ field, message: `${field} is a reserved name (a member of every JavaScript object); rename the field` }],
        ]);
      }
      for (const literal of ['1e400', '-1e400', '123456789012345678901234567890', '9007199254740993', '1e-400', '0.1000000000000000000001']) {
        const text = JSON.stringify(lead({}, { amount: 0 })).replace('"amount":0', `"amount":${literal}`);
        const answer = await post(text);
        expect([literal, answer.status, answer.body.errors]).toEqual([
          literal,
          400,
          [{ field: 'prospect.amount', message: 'prospect.amount is a number that cannot be passed on exactly (too large, too small or too precise); send it as a string' }],
        ]);
      }
      for (const blank of ['   ', '\t\n', '\u00a0']) {
        const answer = await post(JSON.stringify(lead({}, { first_name: blank })));
        expect(answer.status).toBe(400);
        expect(answer.body.errors).toEqual([{ field: 'prospect.first_name', message: 'prospect.first_name must not be blank' }]);
      }
      // Exact numbers are fine, however written.
      const exact = JSON.stringify(lead({}, { amount: 0 })).replace('"amount":0', '"amount":[1.0,1e2,-0,0.1,12.5e3,9007199254740991,1.7976931348623157e308]');
      expect((await post(exact)).status).toBe(202);
    });

    /** Number literals placed verbatim in the body text: exact ones, and ones a double cannot hold. */
    const LITERALS = ['0', '-0', '1.0', '1e2', '0.1', '12.5e3', '9007199254740991', '1e400', '123456789012345678901234567890', '9007199254740993', '1e-400'];
    const INEXACT = new Set(['1e400', '123456789012345678901234567890', '9007199254740993', '1e-400']);
    const fieldName = fc.oneof(
      fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'email', 'phone', 'notes', 'first_name'),
      fc.string({ minLength: 1, maxLength: 12 }),
    );
    const value = fc.oneof(
      { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
      { weight: 1, arbitrary: fc.constantFrom(...LITERALS).map((literal) => ({ literal })) },
      { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
    );
    const name = fc.oneof(fc.constantFrom('Foo', ' Ann ', '   ', '\t', '\u00a0', ''), fc.string({ unit: 'grapheme', maxLength: 12 }));
    const generated = fc.record({ first_name: name, last_name: name, extra: fc.dictionary(fieldName, value, { maxKeys: 6 }) });

    it('property: any accepted lead reaches the sandbox equal in every field; anything else is a 400 naming a field', async () => {
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(generated, async ({ first_name, last_name, extra }) => {
          const did = distributionId();
          const literals: string[] = [];
          const prospect = {
            first_name,
            last_name,
            external_ref: { external_ref: randomUUID() },
            ...Object.fromEntries(Object.entries(extra).map(([key, item]) => [key, isLiteral(item) ? `@@literal${literals.push(item.literal) - 1}@@` : item])),
          };
          const text = JSON.stringify({ origin: 'CRM', distribution_id: did, prospect }).replace(/"@@literal(\d+)@@"/g, (_, i: string) => literals[Number(i)]);
          const answer = await post(text);
          if (answer.status === 400) {
            expect(answer.body.errors.length).toBeGreaterThan(0);
            return;
          }
          expect(answer.status).toBe(202);
          accepted++;
          expect(literals.filter((literal) => INEXACT.has(literal))).toEqual([]);
          const status = await stack.waitForStatus(answer.body.id, ['delivered', 'failed']);
          expect(status.status).toBe('delivered');
          const [received] = await waitFor('the sandbox to record the lead', async () => {
            const requests = await control.requests(did);
            return requests.length ? requests : undefined;
          });
          // -0 and 0 are the same JSON number (JSON.stringify writes both as 0).
          const { distribution_id: _routing, ...sent } = JSON.parse(text, (_key, item: unknown) => (Object.is(item, -0) ? 0 : item)) as Json;
          expect(received.body).toEqual(sent);
        }),
        { numRuns: 40, endOnFailure: true },
      );
      expect(accepted).toBeGreaterThan(0);
    }, 120_000);
  });
});

function isLiteral(value: unknown): value is { literal: string } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && typeof (value as { literal?: unknown }).literal === 'string';
}
