import { CanActivate, Controller, ExecutionContext, HttpCode, HttpStatus, Injectable, Module, Post, UseGuards, UseInterceptors } from '@nestjs/common';
import { APP_FILTER, NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyRequest } from 'fastify';
import { of } from 'rxjs';
import { answerDirectly } from './direct-route';
import { ProblemException } from './problem';
import { ProblemFilter } from './problem.filter';

const calls: string[] = [];

@Injectable()
class ClassGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    calls.push(`class guard: ${context.getClass().name}.${context.getHandler().name}`);
    return true;
  }
}

@Injectable()
class MethodGuard implements CanActivate {
  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    calls.push('method guard');
    if (request.headers['x-refuse'] === 'problem') throw new ProblemException(HttpStatus.UNAUTHORIZED, 'Refused by the guard.');
    return request.headers['x-refuse'] !== 'false';
  }
}

@Controller({ path: 'things' })
@UseGuards(ClassGuard)
class ThingsController {
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @UseGuards(MethodGuard)
  // No parameter decorators: only the direct route gives it arguments (through Nest's router it would fail on undefined).
  async create(body: { name?: string }, header: string | undefined): Promise<unknown> {
    calls.push('handler');
    if (body.name === 'boom') throw new ProblemException(HttpStatus.CONFLICT, 'The handler refused "boom".');
    return { name: body.name, header };
  }

  @Post('intercepted')
  @UseInterceptors({ intercept: (_context, next) => next.handle() ?? of(null) })
  intercepted(): string {
    return 'never direct';
  }
}

@Module({ controllers: [ThingsController], providers: [ClassGuard, MethodGuard, { provide: APP_FILTER, useClass: ProblemFilter }] })
class ThingsModule {}

describe('answerDirectly', () => {
  let app: NestFastifyApplication;

  beforeAll(async () => {
    app = await NestFactory.create<NestFastifyApplication>(ThingsModule, new FastifyAdapter(), { logger: false });
    answerDirectly(app.getHttpAdapter().getInstance(), app, {
      method: 'POST',
      url: '/things',
      controller: ThingsController,
      handler: 'create',
      args: (request) => [request.body, request.headers['x-thing'] as string | undefined],
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());
  beforeEach(() => calls.splice(0));

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/things', headers: { 'content-type': 'application/json', ...headers }, payload: JSON.stringify(body) });

  it("runs the class's then the method's guards once, sets the @HttpCode and answers with the method's result", async () => {
    const response = await post({ name: 'a' }, { 'x-thing': 'h' });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({ name: 'a', header: 'h' });
    expect(calls).toEqual(['class guard: ThingsController.create', 'method guard', 'handler']);
  });

  it("answers a guard's refusal as Nest does (403), and its exception through the app's filter, without calling the method", async () => {
    const refused = await post({ name: 'a' }, { 'x-refuse': 'false' });
    expect(refused.statusCode).toBe(403);
    expect(refused.headers['content-type']).toContain('application/problem+json');
    const problem = await post({ name: 'a' }, { 'x-refuse': 'problem' });
    expect(problem.statusCode).toBe(401);
    expect(problem.json()).toMatchObject({ status: 401, detail: 'Refused by the guard.' });
    expect(calls).not.toContain('handler');
  });

  it("answers the method's exception through the app's filter", async () => {
    const response = await post({ name: 'boom' });
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ status: 409, detail: 'The handler refused "boom".' });
    expect(calls.filter((call) => call === 'handler')).toHaveLength(1);
  });

  it('refuses a method with its own interceptors or pipes, which it would not run', () => {
    expect(() =>
      answerDirectly(app.getHttpAdapter().getInstance(), app, { method: 'POST', url: '/things/intercepted', controller: ThingsController, handler: 'intercepted', args: () => [] }),
    ).toThrow('ThingsController.intercepted has its own interceptors, which a direct route would not run');
  });
});
