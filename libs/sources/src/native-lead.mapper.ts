import { LeadBody } from '@app/leads';
import { NativeEvent, SourceDefinition } from './source.types';

export interface MappedLead {
  lead: LeadBody;
  /** The mapping may route the lead (`distribution_id` in its result), else the source's. */
  distributionId?: string;
}

/**
 * Turns one stored native event into the lead WeGroup gets, with the mapping in force now:
 * fetches the record when the event carries ids only (SourceFetchError), evaluates the
 * source's JSONata (or the type's default) within time and size limits, and checks the
 * result against the lead rules (LeadMappingError naming the fields).
 */
export interface NativeLeadMapperContract {
  map(source: SourceDefinition, event: NativeEvent): Promise<MappedLead>;
}
