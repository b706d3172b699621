import { LeadBody } from '@app/leads';
import { NativeEvent, SourceDefinition } from './source.types';

/**
 * Turns one stored native event into the lead WeGroup gets, with the mapping in force now:
 * fetches the record when the event carries ids only (throws SourceFetchError), evaluates the
 * source's JSONata (or the type's default) within time and size limits, and checks the
 * result against the lead rules (throws LeadMappingError naming the fields, never values).
 * The result never routes: a `distribution_id` in it is a LeadMappingError (the source's
 * distribution is fixed when the event is accepted).
 *
 * Abstract so it is the DI token: SourcesModule provides the implementation.
 */
export abstract class NativeLeadMapper {
  abstract map(source: SourceDefinition, event: NativeEvent): Promise<LeadBody>;
}
