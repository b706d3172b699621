import { Inject, Injectable, Logger } from '@nestjs/common';
import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { ConfigService } from '@nestjs/config';
import { CreateLeadDto, DeliverLeadJobData, LeadBody, LeadJobs } from '@app/leads';
import { DELIVER_LEAD_JOB, deliveryJobOptions } from '@app/queue';
import { IntakeAppConfig } from '@app/config';
import { RedisUnavailableException } from '../common/problem';
import { LEAD_QUEUE } from '../intake.tokens';

/** How long a request may wait for Redis before it is answered 503. */
export const ENQUEUE_TIMEOUT_MS = 1_000;

@Injectable()
export class LeadIntakeService {
  private readonly logger = new Logger(LeadIntakeService.name);
  private readonly jobOptions;
  private readonly defaultDistributionId: string;

  constructor(
    @Inject(LEAD_QUEUE) private readonly queue: Queue<LeadJobs[typeof DELIVER_LEAD_JOB]>,
    config: ConfigService<IntakeAppConfig, true>,
  ) {
    this.jobOptions = deliveryJobOptions(config.get('delivery', { infer: true }));
    this.defaultDistributionId = config.get('defaultDistributionId', { infer: true });
  }

  /** Stores the lead as a job; resolves only once Redis has acknowledged it. */
  async accept(dto: CreateLeadDto, source: string): Promise<DeliverLeadJobData> {
    const data: DeliverLeadJobData = {
      lead_id: randomUUID(),
      source,
      distribution_id: dto.distribution_id ?? this.defaultDistributionId,
      received_at: new Date().toISOString(),
      lead: toLeadBody(dto),
    };
    await withTimeout(this.queue.add(DELIVER_LEAD_JOB, data, { ...this.jobOptions, jobId: data.lead_id }), ENQUEUE_TIMEOUT_MS).catch(
      (error: Error) => {
        this.logger.warn(`Lead not enqueued, Redis unavailable: ${error.message}`);
        throw new RedisUnavailableException();
      },
    );
    return data;
  }
}

/** Exactly the body WeGroup gets: the lead as received, minus our own routing field. */
export function toLeadBody(dto: CreateLeadDto): LeadBody {
  const { distribution_id: _routing, ...body } = dto;
  return body;
}

export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
