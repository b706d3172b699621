import { Keyring } from '@app/config';
import { Job, Queue } from 'bullmq';
import { DeliverLeadJobData, LeadLogEntry } from './lead-job';
import { openLogLine, scrubEntry } from './lead-sealing';

/**
 * Removes a finished lead's personal data and keeps its metadata: the sealed body goes, and
 * the attempt log is rewritten without WeGroup's words and bodies (which can echo the
 * prospect). Used by the retention sweep and by erasure requests. Only for jobs no worker
 * holds (completed or failed).
 */
export async function scrubLeadJob(queue: Queue<DeliverLeadJobData>, job: Job<DeliverLeadJobData>, keyring: Keyring): Promise<void> {
  const { logs } = await queue.getJobLogs(job.id!);
  const entries = logs.map((line) => openLogLine(keyring, line)).filter((entry): entry is LeadLogEntry => entry !== null);
  await job.updateData({ ...job.data, sealed_lead: null, lead_erased_at: new Date().toISOString() });
  await job.clearLogs();
  for (const entry of entries) await job.log(JSON.stringify(scrubEntry(entry)));
}
