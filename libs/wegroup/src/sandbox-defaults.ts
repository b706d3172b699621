import { DEMO_SECRETS } from '@app/config/demo-secrets';

export interface SandboxDefaults {
  apiToken: string;
  distributionId: string;
}

/** What the sandbox accepts out of the box, so `npm start` works without credentials. */
export const SANDBOX_DEFAULTS: SandboxDefaults = {
  apiToken: DEMO_SECRETS.WEGROUP_API_TOKEN,
  distributionId: '11111111-2222-4333-8444-555555555555',
};
