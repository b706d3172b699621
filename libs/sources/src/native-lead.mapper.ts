import { Inject, Injectable, Optional } from '@nestjs/common';
import { LeadBody, LeadMappingError, validateLeadBody } from '@app/leads';
import { adapterFor } from './adapters';
import { DEFAULT_MAPPINGS } from './mapping/default-mappings';
import { CompiledMapping, compileMapping, evaluateMapping, MappingCompileError, MappingEvaluationError } from './mapping/mapping-engine';
import { SourceRecordFetcher } from './record.fetcher';
import { NativeEvent, SourceDefinition, SourceType } from './source.types';

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

export interface NativeLeadMapperOptions {
  /** ALLOW_HTTP_URLS: a mapped backref may be http (local development). */
  allowHttpUrls?: boolean;
}

export const NATIVE_LEAD_MAPPER_OPTIONS = 'NATIVE_LEAD_MAPPER_OPTIONS';

/** Most problems a reason lists (the rest are counted). */
const LISTED_PROBLEMS = 10;

/**
 * The mapper: the type's default mapping (compiled once) and the source's own (compiled once
 * per text), evaluated in turn: a custom mapping sees the default's result as `$default`.
 */
@Injectable()
export class JsonataLeadMapper extends NativeLeadMapper {
  private readonly defaults = new Map<SourceType, CompiledMapping>();
  private readonly custom = new Map<string, CompiledMapping>();

  constructor(
    private readonly fetcher: SourceRecordFetcher,
    @Optional() @Inject(NATIVE_LEAD_MAPPER_OPTIONS) private readonly options: NativeLeadMapperOptions = {},
  ) {
    super();
    this.options = options ?? {};
  }

  async map(source: SourceDefinition, event: NativeEvent): Promise<LeadBody> {
    const adapter = adapterFor(source.type);
    const request = adapter.fetchFor(event);
    const fetched = request ? await this.fetcher.fetch(source, request) : null;
    const input = adapter.mappingInput(source, event, fetched);
    return this.mapInput(source, input);
  }

  /** The lead of a mapping input (what map() does after fetching), or LeadMappingError. */
  async mapInput(source: SourceDefinition, input: unknown): Promise<LeadBody> {
    const platform = adapterFor(source.type).platform;
    const bindings = { origin: source.origin ?? platform, platform, source: source.name };
    const label = `Mapping of source "${source.name}"`;
    let result: unknown;
    try {
      result = await evaluateMapping(this.defaultMapping(source.type), input, bindings);
      if (source.mapping !== undefined) result = await evaluateMapping(this.customMapping(source), input, { ...bindings, default: result });
    } catch (error) {
      if (error instanceof MappingEvaluationError || error instanceof MappingCompileError) {
        throw new LeadMappingError(`${label} failed: ${error.message}`, [{ field: '(mapping)', message: error.message }]);
      }
      throw error;
    }
    if (result === null || typeof result !== 'object' || Array.isArray(result)) {
      const what = result === undefined ? 'nothing' : Array.isArray(result) ? 'an array' : `a ${result === null ? 'null' : typeof result}`;
      throw new LeadMappingError(`${label} produced ${what}; a lead is an object {origin, backref, prospect}.`, [{ field: '(lead)', message: 'must be an object' }]);
    }
    if ('distribution_id' in result) {
      throw new LeadMappingError(`${label} produced an invalid lead: distribution_id cannot be set by a mapping (the source's distribution_id routes its leads).`, [
        { field: 'distribution_id', message: 'distribution_id cannot be set by a mapping' },
      ]);
    }
    const checked = await validateLeadBody(result, { allowHttpUrls: this.options.allowHttpUrls });
    if (checked.errors) {
      const listed = checked.errors.slice(0, LISTED_PROBLEMS).map((error) => error.message);
      const more = checked.problems - listed.length;
      throw new LeadMappingError(`${label} produced an invalid lead: ${listed.join('; ')}${more > 0 ? `; ${more} more` : ''}`, checked.errors);
    }
    return result as LeadBody;
  }

  private defaultMapping(type: SourceType): CompiledMapping {
    let mapping = this.defaults.get(type);
    if (!mapping) {
      mapping = compileMapping(DEFAULT_MAPPINGS[type]);
      this.defaults.set(type, mapping);
    }
    return mapping;
  }

  private customMapping(source: SourceDefinition): CompiledMapping {
    const text = source.mapping!;
    let mapping = this.custom.get(text);
    if (!mapping) {
      mapping = compileMapping(text);
      // Mappings change only with the sources file: a handful per process.
      if (this.custom.size >= 1_000) this.custom.clear();
      this.custom.set(text, mapping);
    }
    return mapping;
  }
}
