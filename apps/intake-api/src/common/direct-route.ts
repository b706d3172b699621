import { CanActivate, ForbiddenException, INestApplicationContext, Type } from '@nestjs/common';
import { GUARDS_METADATA, HTTP_CODE_METADATA, INTERCEPTORS_METADATA, PIPES_METADATA } from '@nestjs/common/constants';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';

/** A controller method answered directly; `args` builds its arguments as its parameter decorators would. */
export interface DirectRoute<C> {
  method: 'POST';
  /** The route as registered (Fastify's routeOptions.url), e.g. `/v1/leads`. */
  url: string;
  controller: Type<C>;
  handler: keyof C & string;
  args: (request: FastifyRequest, reply: FastifyReply) => unknown[] | Promise<unknown[]>;
}

/**
 * Answers a hot route from a Fastify preHandler, without Nest's router around it. The route
 * stays Nest's (registered by its controller, in the OpenAPI document, with its body limit
 * and every Fastify hook: request id, logging, metrics, security headers, CSRF, body checks),
 * and the same controller method answers it, after the same guards (its class's and its own
 * @UseGuards, the app's instances) and with its @HttpCode. What is skipped is Nest's per
 * request machinery: the router's context, parameter factories, pipes and interceptors, and
 * the response controller. So `args` runs a pipe where a parameter needs one (the intake's
 * global validation pipe is its only one), and a method with pipes or interceptors of its own
 * is refused at start-up; global guards and interceptors would not run either (the intake has
 * none). Errors take the usual way: Fastify's error handler, which Nest points at the app's
 * exception filter (problem documents).
 */
export function answerDirectly<C>(fastify: FastifyInstance, app: INestApplicationContext, route: DirectRoute<C>): void {
  const instance = app.get(route.controller);
  const method = instance[route.handler] as (...args: unknown[]) => Promise<unknown>;
  const guardTypes: Array<Type<CanActivate>> = [
    ...((Reflect.getMetadata(GUARDS_METADATA, route.controller) as Array<Type<CanActivate>> | undefined) ?? []),
    ...((Reflect.getMetadata(GUARDS_METADATA, method) as Array<Type<CanActivate>> | undefined) ?? []),
  ];
  const guards = guardTypes.map((guard) => app.get(guard));
  for (const key of [INTERCEPTORS_METADATA, PIPES_METADATA]) {
    if (Reflect.getMetadata(key, route.controller)?.length || Reflect.getMetadata(key, method)?.length) {
      throw new Error(`${route.controller.name}.${route.handler} has its own ${key === PIPES_METADATA ? 'pipes' : 'interceptors'}, which a direct route would not run`);
    }
  }
  const status = Reflect.getMetadata(HTTP_CODE_METADATA, method) as number | undefined;
  const answer: preHandlerAsyncHookHandler = async (request, reply) => {
    const context = new ExecutionContextHost([request, reply, undefined], route.controller, method);
    for (const guard of guards) {
      if (!(await guard.canActivate(context))) throw new ForbiddenException('Forbidden resource');
    }
    if (status !== undefined) void reply.code(status);
    const result = await method.apply(instance, await route.args(request, reply));
    return reply.send(result);
  };
  fastify.addHook('onRoute', (options) => {
    if (options.url !== route.url || options.method !== route.method) return;
    const existing = options.preHandler === undefined ? [] : Array.isArray(options.preHandler) ? options.preHandler : [options.preHandler];
    options.preHandler = [...existing, answer];
  });
}
