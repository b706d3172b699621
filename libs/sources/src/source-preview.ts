import { LeadBody } from '@app/leads';
import { NativeLeadMapper } from './native-lead.mapper';
import { NativeRequest, SplitRequest } from './source-adapter';
import { SourceRegistry } from './source.registry';
import { SourceProblem, SourceType } from './source.types';

/** What a native payload would produce: each lead (or its problems), the events that are not leads, and the payload's own problems. */
export interface SourcePreview {
  source: string;
  type: SourceType;
  leads: Array<{ event_id: string; lead: LeadBody | null; problems: SourceProblem[] }>;
  ignored: SplitRequest['ignored'];
  problems: SourceProblem[];
}

/**
 * STUB (intake branch): the sources lib's implementation replaces this; enqueues nothing.
 */
export async function previewSource(registry: SourceRegistry, mapper: NativeLeadMapper, sourceName: string, request: NativeRequest): Promise<SourcePreview> {
  void registry;
  void mapper;
  void request;
  throw new Error(`previewSource(${sourceName}): not implemented`);
}
