import { Injectable } from '@nestjs/common';
import { LeadRepository, leadStatusView, LeadStatusDto } from '@app/leads';
import { withRedisTimeout } from '../common/redis-timeout';

/** GET /v1/leads/{id}: a lead's status, read from its record. */
@Injectable()
export class LeadStatusService {
  constructor(private readonly leads: LeadRepository) {}

  /** The lead, or null when it does not exist or (with `source`) belongs to another source. */
  async find(id: string, source?: string): Promise<LeadStatusDto | null> {
    const record = await withRedisTimeout(this.leads.find(id));
    if (!record || (source !== undefined && record.data.source !== source)) return null;
    return leadStatusView(record);
  }
}
