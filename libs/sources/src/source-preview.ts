import { LeadBody, LeadMappingError, SourceFetchError } from '@app/leads';
import { adapterFor } from './adapters';
import { NativeLeadMapper } from './native-lead.mapper';
import { NativePayloadError, NativeRequest, SplitContext } from './source-adapter';
import { SourceRegistry } from './source.registry';
import { SourceProblem, SourceType } from './source.types';

/** What a native payload would produce, lead by lead, with every problem. */
export interface SourcePreview {
  source: string;
  type: SourceType;
  leads: Array<{ event_id: string; lead: LeadBody | null; problems: SourceProblem[] }>;
  ignored: Array<{ event_id: string | null; reason: string }>;
  /** Problems of the payload as a whole (it could not be split into events). */
  problems: SourceProblem[];
}

/** The source named is not configured (the intake answers 404). */
export class UnknownSourceError extends Error {
  constructor(readonly source: string) {
    super(`Source "${source}" is not configured.`);
    this.name = 'UnknownSourceError';
  }
}

/** Whether a preview found nothing wrong: at least one lead, each mapped, no problem anywhere. */
export function previewSucceeded(preview: SourcePreview): boolean {
  return preview.problems.length === 0 && preview.leads.length > 0 && preview.leads.every((lead) => lead.lead !== null && lead.problems.length === 0);
}

/**
 * Splits and maps a native payload as the intake and the worker would, enqueuing nothing
 * (records are fetched, as the worker would). Authentication is not checked: ops call it.
 * Never throws for a bad payload: its problems are in the answer (a failed fetch too). Throws
 * UnknownSourceError for a source that is not configured.
 */
export async function previewSource(
  registry: SourceRegistry,
  mapper: NativeLeadMapper,
  sourceName: string,
  request: NativeRequest,
  context: SplitContext = {},
): Promise<SourcePreview> {
  const source = registry.get(sourceName);
  if (!source) throw new UnknownSourceError(sourceName);
  const preview: SourcePreview = { source: source.name, type: source.type, leads: [], ignored: [], problems: [] };
  let split;
  try {
    split = adapterFor(source.type).split(request, context);
  } catch (error) {
    if (!(error instanceof NativePayloadError)) throw error;
    preview.problems.push(...error.problems);
    return preview;
  }
  preview.ignored = split.ignored.map((ignored) => ({ event_id: ignored.eventId, reason: ignored.reason }));
  for (const event of split.events) {
    try {
      preview.leads.push({ event_id: event.eventId, lead: await mapper.map(source, event), problems: [] });
    } catch (error) {
      preview.leads.push({ event_id: event.eventId, lead: null, problems: problemsOf(error) });
    }
  }
  return preview;
}

function problemsOf(error: unknown): SourceProblem[] {
  if (error instanceof LeadMappingError) {
    return error.problems.length ? error.problems.map((problem) => ({ field: problem.field, message: problem.message })) : [{ field: '(mapping)', message: error.reason }];
  }
  if (error instanceof SourceFetchError) return [{ field: '(fetch)', message: `${error.reason} (${error.kind}: the worker would ${error.kind === 'transient' ? 'retry' : 'fail the lead'})` }];
  if (error instanceof NativePayloadError) return error.problems;
  throw error;
}
