import { HttpStatus, Logger } from '@nestjs/common';
import { readIntakeAppConfig } from '../intake.config';
import { CreateLeadDto, LeadRepository } from '@app/leads';
import type { LeadsQueue } from '@app/queue';
import { ProblemException, RedisUnavailableException } from '../common/problem';
import type { SsoConnectionsService } from '../connections/sso-connections.service';
import { Acceptance, LeadIntakeService } from './lead-intake.service';
import { fakeLeadsQueue } from '../testing/fake-leads-queue';

const ENV = {
  INTAKE_API_KEYS: 'acme:acme-key-0123456789abcdef',
  OPS_USERNAME: 'ops',
  OPS_PASSWORD: 'ops-password',
  DATA_ENCRYPTION_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
};


function service(connected: string[] | null = null) {
  const queue = fakeLeadsQueue();
  const config = readIntakeAppConfig(ENV);
  const connections = {
    enabled: connected !== null,
    hasConnection: jest.fn(async (id: string) => connected?.includes(id) ?? false),
  };
  const intake = new LeadIntakeService(
    new LeadRepository(queue as unknown as LeadsQueue, config.dataKeyring, config.retention, config.retry),
    config.routes,
    config.dataKeyring,
    connections as unknown as SsoConnectionsService,
  );
  return { intake, queue, connections };
}

const dto = (ref: string, distribution_id?: string, first_name = 'Foo'): CreateLeadDto =>
  ({ prospect: { first_name, last_name: 'Bar', external_ref: { external_ref: ref } }, ...(distribution_id ? { distribution_id } : {}) }) as CreateLeadDto;

describe('LeadIntakeService.acceptMany', () => {
  it('enqueues a batch with one addBulk and answers each lead in order', async () => {
    const { intake, queue } = service();
    const outcomes = await intake.acceptMany([{ dto: dto('a') }, { dto: dto('b') }, { dto: dto('a') }, { dto: dto('a', undefined, 'Other') }], 'acme');
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(queue.addBulk.mock.calls[0][0]).toHaveLength(4);
    const [a, b, again, conflict] = outcomes;
    expect(a).toEqual({ lead_id: expect.any(String), replayed: false });
    expect(b).toEqual({ lead_id: expect.any(String), replayed: false });
    expect(again).toEqual({ lead_id: (a as Acceptance).lead_id, replayed: true });
    expect(conflict).toBeInstanceOf(ProblemException);
    expect((conflict as ProblemException).getStatus()).toBe(HttpStatus.CONFLICT);
    expect(queue.stored.size).toBe(2);
  });

  it('keys lead i of a batch with an Idempotency-Key on its own, and a retry replays each', async () => {
    const { intake, queue } = service();
    const leads = [{ dto: dto('x'), idempotencyKey: 'k#0' }, { dto: dto('x'), idempotencyKey: 'k#1' }];
    const first = (await intake.acceptMany(leads, 'acme')) as Acceptance[];
    expect(first.map((o) => o.replayed)).toEqual([false, false]);
    expect(first[0].lead_id).not.toBe(first[1].lead_id);
    const retry = (await intake.acceptMany(leads, 'acme')) as Acceptance[];
    expect(retry).toEqual([
      { lead_id: first[0].lead_id, replayed: true },
      { lead_id: first[1].lead_id, replayed: true },
    ]);
    expect(queue.stored.size).toBe(2);
  });

  it('with SSO, checks each distribution once and refuses the leads of one without a connection (422)', async () => {
    const { intake, queue, connections } = service(['dist-ok']);
    const outcomes = await intake.acceptMany(
      [{ dto: dto('1', 'dist-ok') }, { dto: dto('2', 'dist-none') }, { dto: dto('3', 'dist-ok') }, { dto: dto('4', 'dist-none') }],
      'acme',
    );
    expect(connections.hasConnection.mock.calls.map(([id]) => id).sort()).toEqual(['dist-none', 'dist-ok']);
    expect(outcomes.map((o) => (o instanceof ProblemException ? o.getStatus() : 202))).toEqual([202, 422, 202, 422]);
    expect((outcomes[1] as ProblemException).errors).toEqual([{ field: 'distribution_id', message: expect.stringContaining('dist-none') }]);
    expect(queue.addBulk.mock.calls[0][0]).toHaveLength(2);
  });

  it('fails the whole batch with a 503 when Redis does not store it', async () => {
    const { intake, queue } = service();
    queue.down = true;
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      await expect(intake.acceptMany([{ dto: dto('a') }, { dto: dto('b') }], 'acme')).rejects.toBeInstanceOf(RedisUnavailableException);
    } finally {
      warn.mockRestore();
    }
  });

  it('single posts of one turn share a bulk', async () => {
    const { intake, queue } = service();
    const answers = await Promise.all([intake.accept(dto('p'), 'acme'), intake.accept(dto('q'), 'acme'), intake.accept(dto('p'), 'acme')]);
    expect(queue.addBulk).toHaveBeenCalledTimes(1);
    expect(answers[2]).toEqual({ lead_id: answers[0].lead_id, replayed: true });
  });
});
