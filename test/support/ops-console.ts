import { hashOpsPassword } from '../../apps/intake-api/src/ops/ops-password';

/** The console's ops users in tests: a viewer and an operator of OPS_USERS (the OPS_USERNAME pair is an operator too). */
export const CONSOLE_VIEWER = { name: 'vera', password: 'vera-viewer-password' };
export const CONSOLE_OPERATOR = { name: 'otto', password: 'otto-operator-password' };

/** OPS_USERS for the two users above. */
export async function consoleUsersEnv(): Promise<string> {
  const [viewer, operator] = await Promise.all([hashOpsPassword(CONSOLE_VIEWER.password), hashOpsPassword(CONSOLE_OPERATOR.password)]);
  return `${CONSOLE_VIEWER.name}:${viewer}:viewer,${CONSOLE_OPERATOR.name}:${operator}:operator`;
}

export interface ConsoleAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * A person's browser at the console, over plain HTTP: keeps the cookies the console sets (for
 * /ops), follows nothing by itself (so redirects can be checked), and reads each page's CSRF
 * token the way the page's forms carry it.
 */
export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  /** The last page's CSRF token (its forms' `_csrf`). */
  csrf = '';

  constructor(
    private readonly baseUrl: string,
    /** X-Forwarded-For: each client its own address, so sign-in limits never leak between tests. */
    readonly address: string,
  ) {}

  async get(path: string, headers: Record<string, string> = {}): Promise<ConsoleAnswer> {
    return this.send('GET', path, undefined, headers);
  }

  /** A form post; the page's CSRF token is added unless `_csrf` is given (null: sent without one). */
  async post(path: string, fields: Record<string, string | null> = {}, headers: Record<string, string> = {}): Promise<ConsoleAnswer> {
    const form = new URLSearchParams();
    const withToken = '_csrf' in fields ? fields : { ...fields, _csrf: this.csrf };
    for (const [name, value] of Object.entries(withToken)) if (value !== null) form.append(name, value);
    return this.send('POST', path, form.toString(), { 'content-type': 'application/x-www-form-urlencoded', ...headers });
  }

  /** Signs in through the login form; returns the POST's answer. */
  async signIn(name: string, password: string): Promise<ConsoleAnswer> {
    await this.get('/ops/login');
    return this.post('/ops/login', { name, password });
  }

  cookieHeader(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private async send(method: string, path: string, body: string | undefined, headers: Record<string, string>): Promise<ConsoleAnswer> {
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      body,
      redirect: 'manual',
      headers: { 'x-forwarded-for': this.address, ...(this.cookies.size ? { cookie: this.cookieHeader() } : {}), ...headers },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await response.text();
    const token = /name="_csrf" value="([^"]+)"/.exec(text);
    if (token) this.csrf = token[1];
    return { status: response.status, headers: response.headers, text };
  }
}
