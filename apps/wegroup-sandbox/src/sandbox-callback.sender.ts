import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { SandboxStateService } from './sandbox-state.service';
import type { CreatedLead } from './sandbox.types';

/** Each callback POST gets this long to be answered. */
export const CALLBACK_TIMEOUT_MS = 5_000;
/** Callback sequences under way at once; a lead created beyond it gets none (and it is logged). */
export const MAX_PENDING_SEQUENCES = 1_000;

/**
 * What the sandbox posts as a callback. WeGroup's real callback payload is not published: this
 * is our stand-in, so the loop (lead → WeGroup → callback → lead) runs locally and in tests.
 */
export interface SandboxCallbackBody {
  event: 'lead.status_changed';
  /** The sandbox's (WeGroup's) id of the lead. */
  lead_id: string;
  status: string;
  at: string;
}

/**
 * After the sandbox accepted a lead, posts each status of the configured sequence
 * (SANDBOX_CALLBACKS, or the control API), in order and SANDBOX_CALLBACK_DELAY_MS apart, to
 * each URL of the lead's `prospect.callbacks`, as WeGroup posts its updates. A failed post (no
 * answer, not 2xx) is tried once more, then logged; never more. Log lines name the URL by its
 * position and host only: a callback URL may carry a token in its path.
 */
@Injectable()
export class SandboxCallbackSender implements OnModuleDestroy {
  private readonly logger = new Logger(SandboxCallbackSender.name);
  private readonly stopped = new AbortController();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly state: SandboxStateService) {}

  /** Starts the lead's callback sequence in the background (nothing when no status is configured, or the lead has no URL). */
  schedule(lead: CreatedLead): void {
    const statuses = this.state.callbacks;
    const urls = callbackUrlsOf(lead.body);
    if (statuses.length === 0 || urls.length === 0 || this.stopped.signal.aborted) return;
    if (this.pending.size >= MAX_PENDING_SEQUENCES) {
      this.logger.warn(`Lead ${lead.id}: no callbacks sent, ${MAX_PENDING_SEQUENCES} callback sequences are under way already`);
      return;
    }
    const sequence = this.send(lead.id, urls, statuses, this.state.callbackDelayMs).catch((error: unknown) => {
      if (!this.stopped.signal.aborted) this.logger.warn(`Lead ${lead.id}: callback sequence stopped (${(error as Error)?.name ?? 'error'})`);
    });
    this.pending.add(sequence);
    void sequence.finally(() => this.pending.delete(sequence));
  }

  /** Resolves once every sequence started so far has ended. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** Shutdown: sequences under way stop (a post in flight is aborted). */
  onModuleDestroy(): void {
    this.stopped.abort();
  }

  /** Each status in order; a status goes to every URL before the next one is waited for. */
  async send(leadId: string, urls: readonly string[], statuses: readonly string[], delayMs: number): Promise<void> {
    for (const status of statuses) {
      await sleep(delayMs, undefined, { signal: this.stopped.signal });
      const body: SandboxCallbackBody = { event: 'lead.status_changed', lead_id: leadId, status, at: new Date().toISOString() };
      await Promise.all(urls.map((url, index) => this.postWithOneRetry(url, `Lead ${leadId}: callback "${status}" to URL #${index + 1} (${hostOf(url)})`, JSON.stringify(body), delayMs)));
    }
  }

  private async postWithOneRetry(url: string, what: string, body: string, delayMs: number): Promise<void> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const outcome = await postCallback(url, body, this.stopped.signal);
      if (outcome.ok) {
        this.logger.log(`${what} answered ${outcome.status}`);
        return;
      }
      if (this.stopped.signal.aborted) return;
      this.logger.warn(`${what} failed (${outcome.problem})${attempt === 1 ? '; trying once more' : '; not sent'}`);
      if (attempt === 1) await sleep(delayMs, undefined, { signal: this.stopped.signal });
    }
  }
}

export type CallbackOutcome = { ok: true; status: number } | { ok: false; problem: string };

/** One POST of a callback body (JSON), with a timeout; its answer's body is not read. Never throws. */
export async function postCallback(url: string, body: string, signal?: AbortSignal, timeoutMs = CALLBACK_TIMEOUT_MS): Promise<CallbackOutcome> {
  const signals = [AbortSignal.timeout(timeoutMs), ...(signal ? [signal] : [])];
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'wegroup-sandbox' },
      body,
      redirect: 'manual',
      signal: AbortSignal.any(signals),
    });
    await response.body?.cancel();
    return response.status >= 200 && response.status < 300 ? { ok: true, status: response.status } : { ok: false, problem: `answered ${response.status}` };
  } catch (error) {
    const name = (error as Error)?.name;
    return { ok: false, problem: name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : name === 'AbortError' ? 'stopped' : 'no connection' };
  }
}

/** The http(s) URLs of the lead's `prospect.callbacks` (the body was validated before the lead was created). */
function callbackUrlsOf(body: unknown): string[] {
  const callbacks = (body as { prospect?: { callbacks?: unknown } } | null)?.prospect?.callbacks;
  return Array.isArray(callbacks) ? callbacks.filter((url): url is string => typeof url === 'string' && /^https?:\/\//i.test(url)) : [];
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid URL';
  }
}
