import { parseDocument } from 'yaml';

/**
 * What `docker compose config` makes of docker-compose.yml, for the parts the apps see: each
 * service's command and environment, after YAML merge keys (`<<: *shared-env`) and compose's
 * variable substitution. Written out so the compose test runs where docker-compose is not
 * installed; where it is, the test compares the two.
 */

export interface ComposeService {
  command?: string[];
  environment: Record<string, string>;
  /** Bind mounts in short syntax (`./config:/config:ro`): host path (relative to the file) → container path. */
  binds: Array<{ host: string; container: string }>;
}

export class ComposeInterpolationError extends Error {}

// $$ | ${NAME} | ${NAME:-x} ${NAME-x} ${NAME:?x} ${NAME?x} | $NAME
const REFERENCE = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Compose's substitution of one value, from `vars` (the shell's environment, then .env). */
export function interpolate(value: string, vars: Record<string, string | undefined>): string {
  return value.replace(REFERENCE, (_match, dollar?: string, braced?: string, operator?: string, argument = '', bare?: string) => {
    if (dollar) return '$';
    const name = (braced ?? bare) as string;
    const current = vars[name];
    const missing = operator?.startsWith(':') ? current === undefined || current === '' : current === undefined;
    switch (operator) {
      case ':-':
      case '-':
        return missing ? argument : (current as string);
      case ':?':
      case '?':
        if (missing) throw new ComposeInterpolationError(`required variable ${name} is missing a value: ${argument}`);
        return current as string;
      default:
        return current ?? '';
    }
  });
}

function interpolateTree(node: unknown, vars: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, vars);
  if (Array.isArray(node)) return node.map((item) => interpolateTree(item, vars));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, interpolateTree(value, vars)]));
  }
  return node;
}

/** `environment:` as a map or as a list of NAME=value; compose gives unset list entries no value. */
function environmentOf(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  const entries: Array<[string, unknown]> = Array.isArray(raw)
    ? raw.map((item: string) => {
        const eq = item.indexOf('=');
        return eq < 0 ? [item, ''] : [item.slice(0, eq), item.slice(eq + 1)];
      })
    : Object.entries(raw as Record<string, unknown>);
  return Object.fromEntries(entries.map(([name, value]) => [name, value === null || value === undefined ? '' : String(value)]));
}

/** Short-syntax bind mounts (a host path starting with `.` or `/`); named volumes are not files the apps read. */
function bindsOf(raw: unknown): Array<{ host: string; container: string }> {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter((item): item is string => typeof item === 'string')
    .map((item) => item.split(':'))
    .filter(([host, container]) => container !== undefined && /^[./]/.test(host))
    .map(([host, container]) => ({ host, container }));
}

/** The services of a compose file rendered with `vars` (what compose reads from the shell and .env). */
export function renderCompose(yamlText: string, vars: Record<string, string | undefined>): Record<string, ComposeService> {
  const document = parseDocument(yamlText, { merge: true });
  if (document.errors.length > 0) throw new Error(`docker-compose.yml: ${document.errors[0].message}`);
  const tree = interpolateTree(document.toJS({ maxAliasCount: 100 }), vars) as { services: Record<string, Record<string, unknown>> };
  return Object.fromEntries(
    Object.entries(tree.services).map(([name, service]) => [
      name,
      {
        command: Array.isArray(service.command) ? service.command.map(String) : undefined,
        environment: environmentOf(service.environment),
        binds: bindsOf(service.volumes),
      },
    ]),
  );
}
