import { Injectable } from '@nestjs/common';
import { LeadRepository, leadStatusView, LeadStatusDto } from '@app/leads';
import { LeadEventStore } from '@app/events';
import { withRedisTimeout } from '../common/redis-timeout';
import { leadViewForViewer } from '../ops/lead-view-masking';

/** GET /v1/leads/{id}: a lead's status, read from its record. */
@Injectable()
export class LeadStatusService {
  constructor(
    private readonly leads: LeadRepository,
    private readonly events: LeadEventStore,
  ) {}

  /**
   * The lead, or null when it does not exist or (with `source`) belongs to another source.
   * `personalData: false` (an ops viewer) leaves out what WeGroup answered (leadViewForViewer).
   */
  async find(id: string, source?: string, { personalData = true }: { personalData?: boolean } = {}): Promise<LeadStatusDto | null> {
    const record = await withRedisTimeout(this.leads.find(id));
    if (!record || (source !== undefined && record.data.source !== source)) return null;
    // Only the lead's own source (or ops) gets here: its events are its own.
    const events = await withRedisTimeout(this.events.eventsOf(id));
    const view = leadStatusView(record, events);
    return personalData ? view : leadViewForViewer(view, record.failedReason);
  }
}
