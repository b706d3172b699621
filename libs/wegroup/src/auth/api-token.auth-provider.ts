import { WeGroupCredentials, WeGroupAuthProvider } from './wegroup-auth';

/** The API-token method: one static token with the scopes it was issued with. */
export class ApiTokenAuthProvider implements WeGroupAuthProvider {
  private readonly credentials: WeGroupCredentials;

  constructor(token: string, scopes: readonly string[]) {
    this.credentials = { scheme: 'apikey', credential: token, scopes, label: 'the API token' };
  }

  async credentialsFor(): Promise<WeGroupCredentials> {
    return this.credentials;
  }
}
