import { HttpStatus, Inject, Injectable, Logger } from '@nestjs/common';
import { Keyring } from '@app/config';
import { dataKeyringConfig, DeliverLeadJobData, LeadIndex, LeadRepository, openLead } from '@app/leads';
import { CircuitBreaker } from '@app/queue';
import { externalRefOf, LeadEventEmitter, LeadEventStore } from '@app/events';
import { ProblemException } from '../common/problem';
import { BREAKER_STATE } from '../intake.tokens';
import { withRedisTimeout } from '../common/redis-timeout';
import { BulkEventRetryDto, BulkRetryDto, BulkRetryResultDto, DeliveryStateDto, ErasureResultDto } from './lead-ops.dto';
import { auditAction, OpsAudit, OpsAuditInput } from './ops-audit';

/**
 * Dead letters and replay: failed leads are kept, and ops can send them again. Every action
 * that changed something writes an audit entry naming the ops user (`by`), whichever surface
 * it came from (API, console, dashboard): callers do not audit these themselves.
 */
@Injectable()
export class LeadOpsService {
  private readonly logger = new Logger(LeadOpsService.name);

  constructor(
    private readonly leads: LeadRepository,
    @Inject(BREAKER_STATE) private readonly breaker: Pick<CircuitBreaker, 'state'>,
    @Inject(dataKeyringConfig.KEY) private readonly keyring: Keyring,
    private readonly events: LeadEventStore,
    private readonly emitter: LeadEventEmitter,
    private readonly audit: OpsAudit,
    private readonly index: LeadIndex,
  ) {}

  /** Re-queues one failed event with a fresh schedule (the same id: receivers deduplicate). */
  async retryEvent(id: string, by: string): Promise<void> {
    const retried = await withRedisTimeout(this.events.retry(id, by));
    if (retried.outcome === 'not_found') throw new ProblemException(HttpStatus.NOT_FOUND, `No event with id "${id.slice(0, 64)}".`);
    if (retried.outcome === 'not_failed') {
      throw new ProblemException(HttpStatus.CONFLICT, `Only failed events can be retried; event ${id.slice(0, 64)} is ${retried.state === 'completed' ? 'delivered' : 'still in the queue'}.`);
    }
    this.logger.log(`Event ${id} re-queued by ${by}`);
    await this.audited({ user: by, action: 'event_retried', detail: { event_id: id.slice(0, 64) } });
  }

  async retryEvents(filter: BulkEventRetryDto, by: string): Promise<BulkRetryResultDto> {
    const { matched, retried } = await this.events.retryFailed(
      {
        source: filter.source,
        type: filter.type,
        failedAfter: filter.failed_after ? Date.parse(filter.failed_after) : undefined,
        failedBefore: filter.failed_before ? Date.parse(filter.failed_before) : undefined,
        limit: filter.limit ?? 100,
      },
      by,
      (read) => withRedisTimeout(read),
    );
    this.logger.log(`Bulk event retry by ${by}: ${retried} of ${matched} failed events re-queued`);
    await this.audited({ user: by, action: 'events_bulk_retried', detail: { matched, retried, ...(filter.source ? { source: filter.source } : {}), ...(filter.type ? { type: filter.type } : {}) } });
    return { matched, retried };
  }

  /**
   * Re-queues one failed lead with a fresh retry schedule; its history stays. `via` names the
   * surface when it is not the API (`dashboard`): the replay log says `<user> (<via>)`.
   */
  async retry(id: string, by: string, via?: string): Promise<void> {
    const outcome = await withRedisTimeout(this.leads.retry(id, replayedBy(by, via)));
    switch (outcome) {
      case 'retried':
        return this.audited({ user: by, action: 'lead_retried', lead_id: id, detail: via ? { via } : {} });
      case 'not_found':
        throw notFound(id);
      case 'requeued_meanwhile':
        throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} was already re-queued.`);
      case 'erased':
        throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} cannot be retried: its personal data was erased, so there is nothing left to deliver.`);
      default:
        throw new ProblemException(HttpStatus.CONFLICT, `Only failed leads can be retried; lead ${id} is ${outcome === 'delivered' ? 'delivered' : 'still in the queue'}.`);
    }
  }

  async retryMany(filter: BulkRetryDto, by: string, via?: string): Promise<BulkRetryResultDto> {
    const { matched, retried } = await this.leads.retryFailed(
      {
        reason: filter.reason,
        failedAfter: filter.failed_after ? Date.parse(filter.failed_after) : undefined,
        failedBefore: filter.failed_before ? Date.parse(filter.failed_before) : undefined,
        limit: filter.limit ?? 1000,
      },
      replayedBy(by, via),
      // Each page read answers within Redis's timeout; the whole walk may take longer.
      (read) => withRedisTimeout(read),
    );
    this.logger.log(`Bulk retry by ${by}: ${retried} of ${matched} failed leads re-queued`);
    // The reason filter is text ops typed (it could quote anything): only whether there was one.
    await this.audited({ user: by, action: 'leads_bulk_retried', detail: { matched, retried, by_reason: filter.reason !== undefined, ...(via ? { via } : {}) } });
    return { matched, retried };
  }

  /**
   * Re-queues the failed leads of one failure group (the exact reason text the index groups
   * by, LeadIndex.failureGroups), at most `limit`: the console's bulk retry, after showing the
   * group's count. The reason is not audited (it is WeGroup's summary, but ops chose it): the counts are.
   */
  async retryFailureGroup(reason: string, limit: number, by: string): Promise<BulkRetryResultDto> {
    const ids = await withRedisTimeout(this.index.failedWithReason(reason, limit));
    const retried = await this.leads.retryLeads(ids, by);
    this.logger.log(`Failure group retry by ${by}: ${retried} of ${ids.length} failed leads re-queued`);
    await this.audited({ user: by, action: 'leads_bulk_retried', detail: { matched: ids.length, retried, failure_group: true } });
    return { matched: ids.length, retried };
  }

  private audited(entry: OpsAuditInput): Promise<void> {
    return auditAction(this.audit, this.logger, entry);
  }

  private externalRef(data: DeliverLeadJobData): unknown {
    return safeExternalRef(this.keyring, data);
  }

  async deliveryState(): Promise<DeliveryStateDto> {
    const [circuit_breaker, paused_for_ms, counts] = await withRedisTimeout(
      Promise.all([this.breaker.state(), this.leads.pausedForMs(), this.leads.counts('waiting', 'active', 'delayed', 'failed', 'completed')]),
    );
    return { circuit_breaker, paused_for_ms, counts };
  }

  /**
   * An erasure request: the lead's personal data goes from everywhere we keep it. A lead still
   * queued is cancelled and removed whole; a finished one keeps its metadata.
   */
  async erase(id: string, by: string): Promise<ErasureResultDto> {
    // The source's own reference goes in lead.erased: read before the data is gone.
    const before = await withRedisTimeout(this.leads.findData(id));
    const externalRef = before ? this.externalRef(before) : null;
    const erased = await withRedisTimeout(this.leads.erase(id));
    // WeGroup's callbacks forwarded to the source went with the lead's personal data too.
    const forwarded = erased.outcome === 'removed' || erased.outcome === 'scrubbed' ? await withRedisTimeout(this.events.eraseCallbackBodies(id)) : 0;
    if (before && (erased.outcome === 'removed' || (erased.outcome === 'scrubbed' && erased.had))) {
      // Never fails the erasure: the emitter logs what it could not store.
      await this.emitter.emit({ type: 'lead.erased', lead_id: id, source: before.source, key: '', data: { external_ref: externalRef } });
    }
    switch (erased.outcome) {
      case 'not_found':
        throw notFound(id);
      case 'busy':
        throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} is being delivered right now; ask again in a few seconds.`);
      case 'picked_up':
        throw new ProblemException(HttpStatus.CONFLICT, `Lead ${id} was picked up for delivery meanwhile; ask again in a few seconds.`);
      case 'scrubbed':
        this.logger.log(`Erasure of lead ${id}: personal data ${erased.had ? 'removed' : 'already gone'}`);
        await this.audited({ user: by, action: 'lead_erased', lead_id: id, detail: { outcome: erased.had ? 'personal_data_removed' : 'already_gone' } });
        return {
          id,
          delivery_cancelled: false,
          removed: [
            ...(erased.had ? ['lead data (prospect and request body)', "WeGroup's responses and error texts in the attempt log", "WeGroup's callbacks"] : []),
            ...(forwarded ? [`WeGroup's callback bodies in ${forwarded} lead.updated event(s)`] : []),
          ],
          kept: ['id, source, distribution, status, timestamps, WeGroup lead id'],
        };
      case 'removed':
        this.logger.log(`Erasure of lead ${id}: queued delivery cancelled, lead removed`);
        await this.audited({ user: by, action: 'lead_erased', lead_id: id, detail: { outcome: 'removed' } });
        return {
          id,
          delivery_cancelled: true,
          removed: ['the queued delivery (cancelled)', 'lead data (prospect and request body)', 'attempt log', 'idempotency record'],
          kept: [],
        };
    }
  }
}

/** Who a lead's replay log names. */
function replayedBy(by: string, via: string | undefined): string {
  return via ? `${by} (${via})` : by;
}

/** The source's id of the lead, or null; a lead that cannot be opened is erased anyway. */
function safeExternalRef(keyring: Keyring, data: DeliverLeadJobData): unknown {
  try {
    return externalRefOf(openLead(keyring, data));
  } catch {
    return null;
  }
}

function notFound(id: string): ProblemException {
  return new ProblemException(HttpStatus.NOT_FOUND, `No lead with id "${id.slice(0, 64)}".`);
}
