import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { RingBuffer } from './ring-buffer';
import { SANDBOX_OPTIONS } from './sandbox.constants';
import type { SandboxOptions, TokenScheme } from './sandbox-options';
import type { CreatedLead, FaultRule, NewFaultRule, RecordedRequest } from './sandbox.types';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Everything the sandbox remembers: recorded requests, created leads, queued faults,
 * tokens and the global delay. In memory only; bounded by `maxRecords`.
 */
@Injectable()
export class SandboxStateService {
  private readonly logger = new Logger(SandboxStateService.name);
  private readonly requests: RingBuffer<RecordedRequest>;
  private readonly leads: RingBuffer<CreatedLead>;
  private faults: FaultRule[] = [];
  private readonly tokens: Record<TokenScheme, Map<string, readonly string[]>>;
  private seq = 0;
  private faultSeq = 0;
  private delay: number;
  private callbackStatuses: readonly string[];
  private callbackDelay: number;

  constructor(@Inject(SANDBOX_OPTIONS) private readonly options: SandboxOptions) {
    this.requests = new RingBuffer(options.maxRecords);
    this.leads = new RingBuffer(options.maxRecords);
    this.tokens = { apikey: new Map(options.apiTokens), bearer: new Map(options.bearerTokens) };
    this.delay = options.delayMs;
    this.callbackStatuses = options.callbacks;
    this.callbackDelay = options.callbackDelayMs;
  }

  get maxRecords(): number {
    return this.options.maxRecords;
  }

  // ---- requests -------------------------------------------------------------------------

  recordRequest(method: string, path: string, distributionId: string, headers: IncomingHttpHeaders): RecordedRequest {
    const record: RecordedRequest = {
      seq: ++this.seq,
      received_at: new Date().toISOString(),
      method,
      path,
      distribution_id: distributionId,
      headers,
      body: null,
      outcome: 'pending',
      status: null,
      answered_at: null,
      fault_id: null,
      lead_id: null,
    };
    this.requests.push(record);
    return record;
  }

  listRequests(distributionId?: string): RecordedRequest[] {
    return distributionId === undefined ? this.requests.toArray() : this.requests.toArray((r) => r.distribution_id === distributionId);
  }

  deleteRequests(distributionId?: string): number {
    return distributionId === undefined ? this.requests.clear() : this.requests.removeWhere((r) => r.distribution_id === distributionId);
  }

  // ---- leads ----------------------------------------------------------------------------

  createLead(distributionId: string, body: unknown): CreatedLead {
    const lead: CreatedLead = { id: randomUUID(), distribution_id: distributionId, body, created_at: new Date().toISOString() };
    this.leads.push(lead);
    return lead;
  }

  listLeads(distributionId?: string): CreatedLead[] {
    return distributionId === undefined ? this.leads.toArray() : this.leads.toArray((l) => l.distribution_id === distributionId);
  }

  deleteLeads(distributionId?: string): number {
    return distributionId === undefined ? this.leads.clear() : this.leads.removeWhere((l) => l.distribution_id === distributionId);
  }

  // ---- faults ---------------------------------------------------------------------------

  addFault(spec: NewFaultRule): FaultRule {
    const rule: FaultRule = { ...spec, id: `fault-${++this.faultSeq}`, remaining: spec.count, created_at: new Date().toISOString() };
    this.faults.push(rule);
    this.logger.log(
      `Queued ${rule.id}: ${rule.mode === 'reset' ? 'connection reset' : `status ${rule.status}`} x${rule.count}` +
        (rule.distribution_id === null ? ' for every distribution' : ` for distribution ${rule.distribution_id}`),
    );
    return rule;
  }

  listFaults(): FaultRule[] {
    return this.faults.slice();
  }

  deleteFaults(distributionId?: string): number {
    const before = this.faults.length;
    this.faults = distributionId === undefined ? [] : this.faults.filter((f) => f.distribution_id !== distributionId);
    return before - this.faults.length;
  }

  /** Consumes one use of the first queued rule that matches the distribution. */
  takeFault(distributionId: string): FaultRule | undefined {
    if (this.faults.length === 0) return undefined;
    const index = this.faults.findIndex((f) => f.distribution_id === null || f.distribution_id === distributionId);
    if (index < 0) return undefined;
    const rule = this.faults[index];
    rule.remaining -= 1;
    if (rule.remaining <= 0) this.faults.splice(index, 1);
    return rule;
  }

  // ---- tokens ---------------------------------------------------------------------------

  scopesOf(scheme: TokenScheme, token: string): readonly string[] | undefined {
    return this.tokens[scheme].get(token);
  }

  setToken(scheme: TokenScheme, token: string, scopes: readonly string[]): void {
    this.tokens[scheme].set(token, scopes);
    this.logger.log(`Registered a ${scheme} token with scopes [${scopes.join(', ')}]`);
  }

  deleteToken(token: string, scheme?: TokenScheme): number {
    const schemes: TokenScheme[] = scheme ? [scheme] : ['apikey', 'bearer'];
    let deleted = 0;
    for (const s of schemes) if (this.tokens[s].delete(token)) deleted++;
    if (deleted > 0) this.logger.log(`Removed ${deleted} token registration(s)`);
    return deleted;
  }

  // ---- behaviour ------------------------------------------------------------------------

  get delayMs(): number {
    return this.delay;
  }

  setDelayMs(delayMs: number): void {
    this.delay = delayMs;
    this.logger.log(`Global lead delay set to ${delayMs} ms`);
  }

  /** The statuses posted to each callback URL of a lead created from now on. */
  get callbacks(): readonly string[] {
    return this.callbackStatuses;
  }

  get callbackDelayMs(): number {
    return this.callbackDelay;
  }

  setCallbacks(statuses: readonly string[], delayMs = this.callbackDelay): void {
    this.callbackStatuses = [...statuses];
    this.callbackDelay = delayMs;
    this.logger.log(statuses.length ? `Callbacks after each lead: ${statuses.join(', ')}, ${delayMs} ms apart` : 'Callbacks off');
  }
}
