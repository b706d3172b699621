import { Keyring } from '@app/config';
import { DeliverLeadJobData, LeadBody, LeadLogEntry } from './lead-job';

/**
 * Lead data at rest: the body in the job payload and every attempt-log line (WeGroup's
 * answers can echo the prospect) are sealed with DATA_ENCRYPTION_KEY. Redis, the dashboard
 * and a dump of either show ciphertext only.
 */
export function sealLead(keyring: Keyring, body: LeadBody): string {
  return keyring.seal(JSON.stringify(body));
}

/** The lead body, or null when its personal data was erased. */
export function openLead(keyring: Keyring, data: Pick<DeliverLeadJobData, 'sealed_lead'>): LeadBody | null {
  return data.sealed_lead ? (JSON.parse(keyring.open(data.sealed_lead)) as LeadBody) : null;
}

/** A native event (@app/sources NativeEvent payload), sealed like lead data. */
export function sealEvent(keyring: Keyring, payload: unknown): string {
  return keyring.seal(JSON.stringify(payload));
}

/** The native event's payload, or null when it was erased (or the lead is not native). */
export function openEvent(keyring: Keyring, data: Pick<DeliverLeadJobData, 'native'>): unknown | null {
  return data.native?.sealed_event ? JSON.parse(keyring.open(data.native.sealed_event)) : null;
}

export function sealLogEntry(keyring: Keyring, entry: LeadLogEntry): string {
  return keyring.seal(JSON.stringify(entry));
}

/** Reads a log line, sealed or (after scrubbing) plain; null for a line it cannot read. */
export function openLogLine(keyring: Keyring, line: string): LeadLogEntry | null {
  try {
    return JSON.parse(Keyring.isSealed(line) ? keyring.open(line) : line) as LeadLogEntry;
  } catch {
    return null;
  }
}

/** The entry without anything that could carry personal data: WeGroup's words and body. */
export function scrubEntry(entry: LeadLogEntry): LeadLogEntry {
  if (entry.kind !== 'attempt') return entry;
  const { stack: _stack, ...kept } = entry;
  return { ...kept, error: entry.error === null ? null : '(removed with the personal data)', body: null };
}
