/**
 * oidc-provider (v9) ships no type declarations and `@types/oidc-provider` is not installed:
 * this is the small part of its API that test/support/wegroup-idp.ts uses. Loosely typed on
 * purpose; see https://github.com/panva/node-oidc-provider/blob/v9.x/docs/README.md.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export type AnyObject = Record<string, any>;

  export interface Adapter {
    upsert(id: string, payload: AnyObject, expiresIn: number): Promise<void>;
    find(id: string): Promise<AnyObject | undefined>;
    findByUserCode(userCode: string): Promise<AnyObject | undefined>;
    findByUid(uid: string): Promise<AnyObject | undefined>;
    consume(id: string): Promise<void>;
    destroy(id: string): Promise<void>;
    revokeByGrantId(grantId: string): Promise<void>;
  }

  export interface Account {
    accountId: string;
    claims(use: string, scope: string, claims: AnyObject, rejected: string[]): AnyObject | Promise<AnyObject>;
  }

  export interface Configuration extends AnyObject {
    adapter?: new (name: string) => Adapter;
    findAccount?: (ctx: any, sub: string, token?: any) => Promise<Account | undefined> | Account | undefined;
  }

  export interface Interaction {
    uid: string;
    returnTo: string;
    params: AnyObject;
    prompt: { name: string; reasons: string[]; details: AnyObject };
    session?: { accountId?: string; uid?: string; cookie?: string };
    grantId?: string;
    lastSubmission?: AnyObject;
  }

  export interface Grant {
    accountId: string;
    clientId: string;
    addOIDCScope(scope: string | string[]): void;
    rejectOIDCScope(scope: string | string[]): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(ttl?: number): Promise<string>;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Configuration);
    readonly issuer: string;
    proxy: boolean;
    Grant: { new (properties: { accountId?: string; clientId?: string }): Grant; find(id: string): Promise<Grant | undefined> };
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: AnyObject,
      options?: { mergeWithLastSubmission?: boolean },
    ): Promise<void>;
    on(event: string, listener: (...args: any[]) => void): this;
  }

  export namespace interactionPolicy {
    class Check {
      static REQUEST_PROMPT: true;
      static NO_NEED_TO_PROMPT: false;
      constructor(reason: string, description: string, error: string, check: (ctx: any) => boolean | Promise<boolean>);
      constructor(reason: string, description: string, check: (ctx: any) => boolean | Promise<boolean>);
    }
    interface Prompt {
      name: string;
      checks: Check[] & { add(check: Check, index?: number): void; get(reason: string): Check | undefined };
    }
    function base(): Prompt[] & { get(name: string): Prompt | undefined };
  }

  export const errors: AnyObject;
  export default Provider;
}
