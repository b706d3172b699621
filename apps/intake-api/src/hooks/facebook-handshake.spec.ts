import { ProblemException } from '../common/problem';
import { facebookChallenge } from './facebook-handshake';

const credentials = { type: 'facebook' as const, app_secret: 'app-secret', verify_token: 'verify-me', page_access_token: 'page-token' };
const query = { 'hub.mode': 'subscribe', 'hub.verify_token': 'verify-me', 'hub.challenge': '1158201444' };

function refusal(given: Record<string, unknown>): { status: number; detail: string; fields: string[] } {
  try {
    facebookChallenge(credentials, given);
  } catch (error) {
    if (!(error instanceof ProblemException)) throw error;
    return { status: error.getStatus(), detail: error.message, fields: (error.errors ?? []).map(({ field }) => field) };
  }
  throw new Error('expected a refusal');
}

describe('facebook verification handshake', () => {
  it('echoes the challenge for the right verify token', () => {
    expect(facebookChallenge(credentials, query)).toBe('1158201444');
  });

  it('refuses a wrong token with a 403 that does not echo it or the expected one', () => {
    const answer = refusal({ ...query, 'hub.verify_token': 'guess' });
    expect(answer.status).toBe(403);
    expect(answer.detail).not.toContain('guess');
    expect(answer.detail).not.toContain('verify-me');
  });

  it.each(['hub.mode', 'hub.verify_token', 'hub.challenge'])('names a missing %s (400)', (name) => {
    const given: Record<string, unknown> = { ...query };
    delete given[name];
    expect(refusal(given)).toMatchObject({ status: 400, fields: [name] });
  });

  it('refuses another mode, a repeated parameter and an oversized challenge (400)', () => {
    expect(refusal({ ...query, 'hub.mode': 'unsubscribe' })).toMatchObject({ status: 400, fields: ['hub.mode'] });
    expect(refusal({ ...query, 'hub.challenge': ['1', '2'] })).toMatchObject({ status: 400, fields: ['hub.challenge'] });
    expect(refusal({ ...query, 'hub.challenge': '9'.repeat(513) })).toMatchObject({ status: 400, fields: ['hub.challenge'] });
    expect(refusal({ ...query, 'hub.challenge': '<script>' + ' x' })).toMatchObject({ status: 400, fields: ['hub.challenge'] });
  });
});
