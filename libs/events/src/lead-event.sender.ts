import { Injectable } from '@nestjs/common';
import { HttpService } from '@nestjs/axios';
import { firstValueFrom } from 'rxjs';
import type { Readable } from 'node:stream';
import { Webhook } from 'standardwebhooks';
import { LeadEventJobData } from '@app/queue';
import { SourceEventsEndpoint } from '@app/sources';
import { parseRetryAfter } from '@app/wegroup';
import { EventSendOutcome } from './event-delivery-policy';

/** Bytes of an endpoint's answer read (the rest is dropped): enough for an error's words. */
export const EVENT_ANSWER_LIMIT_BYTES = 2048;

export const EVENTS_USER_AGENT = 'wegroup-lead-intake-events/1';

/** The Standard Webhooks headers of one event, signed now with the endpoint's first secret. */
export function signedHeaders(endpoint: SourceEventsEndpoint, event: Pick<LeadEventJobData, 'event_id' | 'body'>, now = new Date()): Record<string, string> {
  const signature = new Webhook(endpoint.secrets[0]).sign(event.event_id, now, event.body);
  return {
    'webhook-id': event.event_id,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': signature,
    'content-type': 'application/json',
    'user-agent': EVENTS_USER_AGENT,
  };
}

/**
 * Posts one event to its endpoint, over the events' own HTTP client (EventsModule: its own
 * keep-alive agents, timeout, no redirects), never WeGroup's. Signed at each attempt, since
 * receivers refuse old timestamps. Never throws: the outcome says what happened.
 */
@Injectable()
export class LeadEventSender {
  constructor(private readonly http: HttpService) {}

  async send(endpoint: SourceEventsEndpoint, event: LeadEventJobData, timeoutMs: number): Promise<EventSendOutcome> {
    const deadline = Date.now() + timeoutMs;
    try {
      const response = await firstValueFrom(
        this.http.post<Readable>(endpoint.url, event.body, { headers: signedHeaders(endpoint, event), responseType: 'stream', timeout: timeoutMs }),
      );
      const body = await readBounded(response.data, Math.max(deadline - Date.now(), 1));
      const retryAfter = response.headers?.['retry-after'] as string | undefined;
      return { type: 'answered', statusCode: response.status, retryAfterMs: parseRetryAfter(retryAfter), body };
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      const text = typeof code === 'string' ? code : null;
      return { type: 'unreachable', code: text, timedOut: text === 'ECONNABORTED' || text === 'ETIMEDOUT' };
    }
  }
}

/** At most EVENT_ANSWER_LIMIT_BYTES of the answer, within the time left; the connection is let go either way. */
function readBounded(stream: Readable | undefined, timeoutMs: number): Promise<string | null> {
  if (!stream || typeof stream.on !== 'function') return Promise.resolve(null);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const done = (destroy: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      stream.removeAllListeners('data');
      if (destroy) stream.destroy();
      resolve(chunks.length ? Buffer.concat(chunks).subarray(0, EVENT_ANSWER_LIMIT_BYTES).toString('utf8') : null);
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      size += chunk.length;
      if (size >= EVENT_ANSWER_LIMIT_BYTES) done(true);
    });
    stream.once('end', () => done(false));
    stream.once('error', () => done(true));
  });
}
