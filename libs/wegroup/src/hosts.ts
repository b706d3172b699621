import { WEGROUP_ENVIRONMENTS, type WeGroupEnvironment } from '@app/config';

export { WEGROUP_ENVIRONMENTS };
export type { WeGroupEnvironment };

/** API base per environment; `sandbox` is our local stand-in (apps/wegroup-sandbox). */
export const WEGROUP_API_HOSTS: Record<WeGroupEnvironment, string> = {
  sandbox: 'http://127.0.0.1:3100',
  staging: 'https://api.staging.wegroup.be',
  production: 'https://api.wegroup.be',
};

export function leadEndpoint(apiUrl: string, distributionId: string): string {
  return `${apiUrl}/v1/api/distributions/${encodeURIComponent(distributionId)}/leads/customers`;
}
