export const WEGROUP_ENVIRONMENTS = ['sandbox', 'staging', 'production'] as const;
export type WeGroupEnvironment = (typeof WEGROUP_ENVIRONMENTS)[number];

/** API base per environment; `sandbox` is our local stand-in (apps/wegroup-sandbox). */
export const WEGROUP_API_HOSTS: Record<WeGroupEnvironment, string> = {
  sandbox: 'http://127.0.0.1:3100',
  staging: 'https://api.staging.wegroup.be',
  production: 'https://api.wegroup.be',
};

export function leadEndpoint(apiUrl: string, distributionId: string): string {
  return `${apiUrl}/v1/api/distributions/${encodeURIComponent(distributionId)}/leads/customers`;
}
