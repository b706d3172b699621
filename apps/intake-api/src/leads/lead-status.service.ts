import { Inject, Injectable } from '@nestjs/common';
import { Job, Queue } from 'bullmq';
import { AttemptRecord, DeliverLeadJobData, DeliveryResult, leadStatusFromJob, LeadStatusDto } from '@app/leads';
import { RedisUnavailableException } from '../common/problem';
import { LEAD_QUEUE } from '../intake.tokens';
import { ENQUEUE_TIMEOUT_MS, withTimeout } from './lead-intake.service';

/** Reads a lead's status from its job: state, return value, failure reason and attempt log. */
@Injectable()
export class LeadStatusService {
  constructor(@Inject(LEAD_QUEUE) private readonly queue: Queue<DeliverLeadJobData>) {}

  /** The lead, or null when it does not exist or belongs to another source. */
  async find(id: string, source: string): Promise<LeadStatusDto | null> {
    const view = await withTimeout(this.read(id, source), ENQUEUE_TIMEOUT_MS).catch((error: unknown) => {
      throw error instanceof RedisUnavailableException ? error : new RedisUnavailableException();
    });
    return view;
  }

  private async read(id: string, source: string): Promise<LeadStatusDto | null> {
    const job: Job<DeliverLeadJobData, DeliveryResult> | undefined = await this.queue.getJob(id);
    if (!job || job.data?.source !== source) return null;
    const [state, logs] = await Promise.all([job.getState(), this.queue.getJobLogs(id, -1, -1)]);
    const last = parseAttempt(logs.logs[0]);
    const result = job.returnvalue ?? null;
    const status = leadStatusFromJob(state, job.attemptsMade);
    const timestamps = [job.timestamp, job.processedOn ?? 0, job.finishedOn ?? 0, last ? Date.parse(last.at) : 0];
    return {
      id,
      status,
      attempts: job.attemptsMade,
      source: job.data.source,
      distribution_id: job.data.distribution_id,
      created_at: job.data.received_at,
      updated_at: new Date(Math.max(...timestamps)).toISOString(),
      delivered_at: status === 'delivered' && job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
      last_error: status === 'delivered' ? null : (job.failedReason || last?.error) ?? null,
      wegroup: result
        ? { status_code: result.status_code, lead_id: result.lead_id, body: result.body }
        : last?.status_code
          ? { status_code: last.status_code, lead_id: null, body: last.body }
          : null,
    };
  }
}

function parseAttempt(line: string | undefined): AttemptRecord | null {
  if (!line) return null;
  try {
    return JSON.parse(line) as AttemptRecord;
  } catch {
    return null;
  }
}
