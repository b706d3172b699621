import { Validator } from '@seriousme/openapi-schema-validator';
import { STATUS_CODES } from 'node:http';
import { INTAKE_KEY, lead, OPS_AUTH, Stack, startIntakeWithoutRedis } from './support/stack';

/**
 * Lints the OpenAPI document the intake serves at /docs-json, the one Swagger UI and client
 * generators read: Swagger UI refuses to send a request that lacks a parameter marked required,
 * so a stray required header made "Try it out" unusable while every route worked.
 */

type Json = Record<string, any>;

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];
const PROBLEM_JSON = 'application/problem+json';

interface Operation {
  label: string;
  operation: Json;
}

function operationsOf(document: Json): Operation[] {
  return Object.entries(document.paths as Json).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ label: `${method.toUpperCase()} ${path}`, operation: item[method] as Json })),
  );
}

/** A parameter's identity as HTTP sees it: header names are case-insensitive (RFC 9110). */
function identity(parameter: Json): string {
  return `${parameter.in}:${parameter.in === 'header' ? String(parameter.name).toLowerCase() : parameter.name}`;
}

function errorResponses(operation: Json): Array<[number, Json]> {
  return Object.entries(operation.responses as Json)
    .filter(([status]) => /^[45]\d\d$/.test(status))
    .map(([status, response]) => [Number(status), response as Json]);
}

/** The documented example of an error answer (the one Swagger UI shows). */
function problemExample(response: Json): Json | undefined {
  const media = response.content?.[PROBLEM_JSON];
  return media?.example ?? (Object.values(media?.examples ?? {})[0] as Json | undefined)?.value;
}

describe('OpenAPI document served at /docs-json', () => {
  let stack: Stack;
  let document: Json;
  let operations: Operation[];

  beforeAll(async () => {
    // No worker: nothing is delivered; the intake needs a WeGroup URL in its config only.
    stack = await new Stack({ name: 'openapi', sandboxUrl: 'http://127.0.0.1:9', worker: false }).start();
    const response = await fetch(`${stack.url}/docs-json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as Json;
    operations = operationsOf(document);
  });

  afterAll(() => stack?.close());

  it('is a valid OpenAPI 3 document', async () => {
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(operations.length).toBeGreaterThanOrEqual(12);
  });

  it('declares each parameter once per operation (header names compared case-insensitively), and no header a security scheme sends', () => {
    const schemes = (document.components?.securitySchemes ?? {}) as Json;
    const duplicates = operations.flatMap(({ label, operation }) => {
      const parameters = (operation.parameters ?? []) as Json[];
      const seen = new Map<string, number>();
      for (const parameter of parameters) seen.set(identity(parameter), (seen.get(identity(parameter)) ?? 0) + 1);
      const schemeHeaders = ((operation.security ?? []) as Json[])
        .flatMap((requirement) => Object.keys(requirement))
        .map((name) => schemes[name])
        .filter((scheme) => scheme?.type === 'apiKey' && scheme.in === 'header')
        .map((scheme) => `header:${String(scheme.name).toLowerCase()}`);
      return [
        ...[...seen].filter(([, count]) => count > 1).map(([id]) => `${label}: ${id} declared twice`),
        ...schemeHeaders.filter((id) => seen.has(id)).map((id) => `${label}: ${id} is also the security scheme's header`),
      ];
    });
    expect(duplicates).toEqual([]);
  });

  it('marks no parameter required that it documents as optional; only path parameters are required', () => {
    const optional = new Set(
      operations.flatMap(({ operation }) => ((operation.parameters ?? []) as Json[]).filter((p) => !p.required).map(identity)),
    );
    const required = operations.flatMap(({ label, operation }) =>
      ((operation.parameters ?? []) as Json[]).filter((p) => p.required).map((p) => ({ label, id: identity(p) })),
    );
    expect(required.filter(({ id }) => optional.has(id))).toEqual([]);
    // Every header and query parameter of this API is optional: keys travel in security schemes.
    expect(required.filter(({ id }) => !id.startsWith('path:'))).toEqual([]);
    // A path parameter is required by definition, and every one in a path is declared.
    for (const { label, operation } of operations) {
      const names = [...label.matchAll(/\{([^}]+)\}/g)].map((m) => `path:${m[1]}`).sort();
      expect({ label, path: ((operation.parameters ?? []) as Json[]).map(identity).filter((id) => id.startsWith('path:')).sort() }).toEqual({
        label,
        path: names,
      });
    }
  });

  it('declares every error answer as application/problem+json, with a Problem schema', () => {
    const wrong = operations.flatMap(({ label, operation }) =>
      errorResponses(operation)
        .filter(([, response]) => Object.keys(response.content ?? {}).join() !== PROBLEM_JSON)
        .map(([status, response]) => `${label} ${status}: ${Object.keys(response.content ?? {}).join(', ') || '(no content)'}`),
    );
    expect(wrong).toEqual([]);
    for (const { operation } of operations) {
      for (const [, response] of errorResponses(operation)) {
        expect(response.content[PROBLEM_JSON].schema).toEqual({ $ref: '#/components/schemas/ProblemDto' });
      }
    }
  });

  it('gives each error status its own example, a problem document of that status', () => {
    const mismatched: string[] = [];
    const byStatus = new Map<number, Set<string>>();
    for (const { label, operation } of operations) {
      const examples = errorResponses(operation).map(([status, response]) => ({ status, example: problemExample(response) }));
      for (const { status, example } of examples) {
        if (!example) {
          mismatched.push(`${label} ${status}: no example`);
          continue;
        }
        const expected = { type: 'about:blank', title: STATUS_CODES[status], status };
        if (example.type !== expected.type || example.title !== expected.title || example.status !== status || !example.detail) {
          mismatched.push(`${label} ${status}: example is ${JSON.stringify(example)}`);
        }
        byStatus.set(status, (byStatus.get(status) ?? new Set()).add(example.detail));
      }
      const details = examples.map(({ example }) => example?.detail);
      expect({ label, distinct: new Set(details).size }).toEqual({ label, distinct: details.length });
    }
    expect(mismatched).toEqual([]);
    // No status borrows another's words.
    const owners = new Map<string, number[]>();
    for (const [status, details] of byStatus) for (const detail of details) owners.set(detail, [...(owners.get(detail) ?? []), status]);
    expect([...owners].filter(([, statuses]) => statuses.length > 1)).toEqual([]);
  });

  it('names the credentials a 401 is about: X-API-Key on lead routes, the ops login on ops routes', () => {
    for (const { label, operation } of operations) {
      const unauthorized = operation.responses['401'];
      if (!unauthorized) continue;
      const schemes = ((operation.security ?? []) as Json[]).flatMap((requirement) => Object.keys(requirement));
      const detail = problemExample(unauthorized)?.detail as string;
      if (schemes.includes('api-key')) expect({ label, detail }).toEqual({ label, detail: expect.stringContaining('X-API-Key') });
      if (schemes.includes('ops')) expect({ label, detail }).toEqual({ label, detail: expect.stringMatching(/ops|OPS_USERNAME/i) });
    }
  });

  it('documents what the server answers: its 401, 404 and 415 match the documented examples', async () => {
    const documented = (path: string, method: string, status: number) => problemExample(document.paths[path][method].responses[status]);
    const answer = async (path: string, init: RequestInit) => {
      const response = await fetch(`${stack.url}${path}`, init);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      return { status: response.status, ...((await response.json()) as Json) } as Json;
    };

    const noKey = await answer('/v1/leads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(lead()) });
    expect(noKey).toEqual(documented('/v1/leads', 'post', 401));
    const noOps = await answer('/v1/ops/delivery', { method: 'GET' });
    expect(noOps).toEqual(documented('/v1/ops/delivery', 'get', 401));
    const text = await answer('/v1/leads', { method: 'POST', headers: { 'content-type': 'text/plain', 'x-api-key': INTAKE_KEY }, body: 'hello' });
    expect({ status: text.status, title: text.title }).toEqual({ status: 415, title: documented('/v1/leads', 'post', 415)!.title });
    const unknown = await answer('/v1/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10', { headers: { 'x-api-key': INTAKE_KEY } });
    expect(unknown).toEqual(documented('/v1/leads/{id}', 'get', 404));
    const unknownOps = await answer('/v1/leads/6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10/retry', { method: 'POST', headers: { authorization: OPS_AUTH } });
    expect({ status: unknownOps.status, title: unknownOps.title }).toEqual({ status: 404, title: 'Not Found' });
    // The hook route: its documented source is not configured here, and a body no platform sends.
    const unknownSource = await answer('/v1/hooks/hubspot-main', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(unknownSource).toEqual(documented('/v1/hooks/{source}', 'post', 404));
    const hookText = await answer('/v1/hooks/test-crm', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' });
    expect(hookText).toEqual(documented('/v1/hooks/{source}', 'post', 415));
    const noOpsSources = await answer('/v1/sources', { method: 'GET' });
    expect(noOpsSources).toEqual(documented('/v1/sources', 'get', 401));
  });

  it('documents what the server answers without Redis: the 503 of a lead route and of readiness', async () => {
    const { url, close } = await startIntakeWithoutRedis('openapi-noredis');
    try {
      const lead503 = await fetch(`${url}/v1/leads/${'6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10'}`, { headers: { 'x-api-key': INTAKE_KEY } });
      const documentedLead = document.paths['/v1/leads/{id}'].get.responses['503'];
      expect({ status: lead503.status, body: await lead503.json() }).toEqual({ status: 503, body: problemExample(documentedLead) });
      expect(lead503.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(Object.keys(documentedLead.headers)).toEqual(['Retry-After']);

      const ready = await fetch(`${url}/health/ready`);
      expect(ready.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect({ status: ready.status, body: await ready.json() }).toEqual({
        status: 503,
        body: problemExample(document.paths['/health/ready'].get.responses['503']),
      });
    } finally {
      await close();
    }
  });
});
