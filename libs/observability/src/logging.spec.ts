import { Logger, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { pinoHttp, Options } from 'pino-http';
import { logHttpRequests, loggerParams, RepeatedErrorLog, resolveLogLevel, serializeError, useStructuredLogger, withLogging } from './logging';
import { FASTIFY_REQUEST_ID_OPTIONS } from './request-id';
import { REDACTED } from './redaction';

/** Every JSON line written, parsed. */
function capture() {
  const lines: Array<Record<string, any>> = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, any>);
      }
      done();
    },
  });
  return { stream, lines, raw };
}

@Module({})
class EmptyModule {}

function httpOptions(): Options {
  const params = loggerParams('test-app', { logLevel: 'trace' });
  return params.pinoHttp as Options;
}

describe('loggerParams', () => {
  it('maps Nest logger settings to a pino level', () => {
    expect(resolveLogLevel({ logger: ['error'] })).toBe('error');
    expect(resolveLogLevel({ logger: ['error', 'warn', 'log'] })).toBe('info');
    expect(resolveLogLevel({ logger: false })).toBe('silent');
    expect(resolveLogLevel({ logger: ['error'], logLevel: 'debug' })).toBe('debug');
    expect(resolveLogLevel({})).toBe('info');
  });

  it('keeps only the class, code, message and stack of an error, with credentials in its text hidden', () => {
    const error = Object.assign(new Error('refused: apikey secret-token-value-123'), {
      code: 'ERR_BAD_RESPONSE',
      config: { headers: { Authorization: 'apikey secret-token-value-123' }, data: '{"first_name":"Grace"}' },
    });
    const serialized = serializeError(error) as Record<string, unknown>;
    expect(serialized).toMatchObject({ type: 'Error', code: 'ERR_BAD_RESPONSE', message: `refused: apikey ${REDACTED}` });
    expect(Object.keys(serialized).sort()).toEqual(['code', 'message', 'stack', 'type']);
    expect(JSON.stringify(serialized)).not.toMatch(/secret-token-value|Grace/);
  });

  it("drops the original message from a stack handed over on its own (Nest's logger.error(message, stack))", () => {
    const original = new SyntaxError('Unexpected token in JSON: {"first_name":"Grace"}');
    const logged = Object.assign(new Error('Unhandled SyntaxError'), { stack: original.stack });
    const serialized = serializeError(logged) as Record<string, string>;
    expect(serialized.stack.split('\n')[0]).toBe('Error: Unhandled SyntaxError');
    expect(serialized.stack).toMatch(/\n\s+at /);
    expect(JSON.stringify(serialized)).not.toContain('Grace');
  });

  it('follows the cause, and hides values an error message quotes (lead data, credentials in URLs)', () => {
    const cause = Object.assign(new Error('connect to redis://:hunter2-password@redis.internal:6379 failed'), { code: 'ECONNREFUSED' });
    const error = new SyntaxError(`Unexpected token 'o', "Grace Hopper" is not valid JSON (reading 'first_name')`, { cause });
    const serialized = serializeError(error) as Record<string, any>;
    expect(serialized).toMatchObject({
      type: 'SyntaxError',
      message: `Unexpected token '…', "…" is not valid JSON (reading '…')`,
      cause: { type: 'Error', code: 'ECONNREFUSED', message: 'connect to … failed', stack: expect.stringMatching(/\n\s+at /) },
    });
    expect(JSON.stringify(serialized)).not.toMatch(/Grace|hunter2/);
  });

  it('writes JSON lines with the service, an ISO time and the level as a word, redacting what is logged', () => {
    const { stream, lines, raw } = capture();
    const logger = pinoHttp(httpOptions(), stream).logger;
    logger.warn(
      {
        lead_id: 'l-1',
        prospect: { first_name: 'Grace' },
        client_secret: 'very-secret-value',
        headers: { authorization: 'Bearer header-token-value-1', 'x-api-key': 'header-key-value-1', cookie: 'sid=header-cookie-value', accept: 'application/json' },
      },
      'refused apikey some-api-token-value-123',
    );
    expect(lines[0]).toMatchObject({
      level: 'warn',
      service: 'test-app',
      lead_id: 'l-1',
      prospect: REDACTED,
      client_secret: REDACTED,
      headers: { authorization: REDACTED, 'x-api-key': REDACTED, cookie: REDACTED, accept: 'application/json' },
    });
    expect(lines[0].msg).toBe(`refused apikey ${REDACTED}`);
    expect(new Date(lines[0].time).toISOString()).toBe(lines[0].time);
    expect(raw.join('\n')).not.toMatch(/Grace|very-secret-value|some-api-token-value-123|header-token-value|header-key-value|header-cookie-value/);
  });

  it('logs one line per request, without its body, with credentials hidden and the request id; lines written meanwhile carry the id', async () => {
    const { stream, lines, raw } = capture();
    const app = await NestFactory.create<NestFastifyApplication>(
      withLogging({ module: EmptyModule }, 'test-app', { logLevel: 'trace', logDestination: stream }),
      new FastifyAdapter(FASTIFY_REQUEST_ID_OPTIONS),
      { bufferLogs: true },
    );
    useStructuredLogger(app);
    const fastify = app.getHttpAdapter().getInstance();
    logHttpRequests(fastify);
    const logger = new Logger('Handler');
    fastify.post('/v1/leads', async (_request, reply) => {
      await new Promise((resolve) => setImmediate(resolve));
      logger.log('Handling the lead');
      return reply.send('ok');
    });
    fastify.get('/broken', async (_request, reply) => reply.code(503).send('down'));
    fastify.get('/health/ready', async () => 'ok');
    let handled!: () => void;
    const handling = new Promise<void>((resolve) => (handled = resolve));
    let abandoned!: () => void;
    const clientGone = new Promise<void>((resolve) => (abandoned = resolve));
    fastify.post('/v1/slow', async (_request, reply) => {
      reply.raw.once('close', () => setImmediate(abandoned));
      handled();
      await clientGone;
      return reply.send('too late');
    });
    await app.listen(0, '127.0.0.1');
    const url = await app.getUrl();
    const body = JSON.stringify({ prospect: { first_name: 'Grace', last_name: 'Hopper', email: 'grace@example.com' } });
    const answer = await fetch(`${url}/v1/leads?access_token=query-token-value`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': 'intake-key-value-0123456789',
        authorization: 'Basic b3BzOm9wcy1wYXNzd29yZA==',
        cookie: 'session=cookie-value',
        'webhook-signature': 'v1,c2lnbmF0dXJlLXZhbHVlLXZhbHVl',
        'proxy-authorization': 'Basic cHJveHktY3JlZGVudGlhbA==',
        'idempotency-key': 'idempotency-key-value-1',
        'x-request-id': 'req-from-crm-1',
      },
      body,
    });
    await answer.text();
    await (await fetch(`${url}/broken`, { headers: { 'x-request-id': 'req-broken' } })).text();
    await (await fetch(`${url}/health/ready`)).text();
    // A client that gives up before the answer (a CRM's timeout).
    const client = connect(Number(new URL(url).port), '127.0.0.1');
    client.write('POST /v1/slow HTTP/1.1\r\nHost: intake\r\nX-Request-ID: req-abandoned\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
    await handling;
    client.destroy();
    await clientGone;
    await app.close();

    const line = lines.find((entry) => entry.req?.url?.startsWith('/v1/leads'));
    expect(line).toMatchObject({
      level: 'info',
      service: 'test-app',
      request_id: 'req-from-crm-1',
      msg: expect.stringMatching(/^POST \/v1\/leads 200 \(\d+ ms\)$/),
      req: {
        id: 'req-from-crm-1',
        method: 'POST',
        url: `/v1/leads?access_token=${REDACTED}`,
        remoteAddress: '127.0.0.1',
        headers: {
          'x-api-key': REDACTED,
          authorization: REDACTED,
          cookie: REDACTED,
          'webhook-signature': REDACTED,
          'proxy-authorization': REDACTED,
          'idempotency-key': REDACTED,
          'x-request-id': 'req-from-crm-1',
        },
      },
      res: { statusCode: 200 },
      responseTime: expect.any(Number),
    });
    expect(Object.keys(line!.req).sort()).toEqual(['headers', 'id', 'method', 'remoteAddress', 'url']);
    // Across an await inside the handler, the request's id is on the line.
    expect(lines.find((entry) => entry.msg === 'Handling the lead')).toMatchObject({ request_id: 'req-from-crm-1', context: 'Handler' });
    expect(lines.find((entry) => entry.request_id === 'req-broken' && entry.req)).toMatchObject({
      level: 'warn',
      msg: 'GET /broken 503 failed',
      res: { statusCode: 503 },
      err: { type: 'Error', message: 'failed with status code 503' },
    });
    expect(lines.some((entry) => entry.req?.url === '/health/ready')).toBe(false);
    expect(lines.filter((entry) => entry.request_id === 'req-abandoned' && entry.req)).toEqual([
      expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^POST \/v1\/slow closed by the client before the answer \(\d+ ms\)$/), res: { statusCode: null } }),
    ]);
    expect(raw.join('\n')).not.toMatch(/Grace|Hopper|grace@example|intake-key-value|b3BzOm9wcy1wYXNzd29yZA|cookie-value|query-token-value|c2lnbmF0dXJl|cHJveHkt|idempotency-key-value/);
  });
});

describe('RepeatedErrorLog', () => {
  it('logs the first of each error at once and a repeat at most once a minute, with how many were left out', () => {
    let now = 0;
    const logger = { warn: jest.fn() };
    const log = new RepeatedErrorLog(logger, 'Queue error', 60_000, () => now);
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:6379');
    for (let i = 0; i < 50; i++, now += 500) log.listener(refused);
    log.listener(new Error('Connection is closed.'));
    now = 60_000;
    log.listener(refused);
    expect(logger.warn.mock.calls.map(([, message]) => message)).toEqual([
      'Queue error: connect ECONNREFUSED 127.0.0.1:6379',
      'Queue error: Connection is closed.',
      'Queue error: connect ECONNREFUSED 127.0.0.1:6379 (49 more since last logged)',
    ]);
    expect(logger.warn.mock.calls[0][0]).toEqual({ err: refused });
    log.reset();
    log.listener(refused);
    expect(logger.warn).toHaveBeenCalledTimes(4);
  });
});
