import { SourceAdapter } from '../source-adapter';
import { SourceType } from '../source.types';
import { FacebookAdapter } from './facebook.adapter';
import { HubspotAdapter } from './hubspot.adapter';
import { JsonAdapter } from './json.adapter';
import { PipedriveAdapter } from './pipedrive.adapter';
import { SalesforceAdapter } from './salesforce.adapter';
import { DynamicsAdapter, ZohoAdapter } from './token.adapter';
import { TypeformAdapter } from './typeform.adapter';

export { FacebookAdapter, HubspotAdapter, JsonAdapter, PipedriveAdapter, SalesforceAdapter, TypeformAdapter, ZohoAdapter, DynamicsAdapter };
export { hubspotSignedUri, HUBSPOT_SIGNATURE_TOLERANCE_MS } from './hubspot.adapter';
export { MAX_SALESFORCE_XML_BYTES } from './salesforce.adapter';

const ADAPTERS: Readonly<Record<SourceType, SourceAdapter>> = {
  hubspot: new HubspotAdapter(),
  pipedrive: new PipedriveAdapter(),
  salesforce: new SalesforceAdapter(),
  typeform: new TypeformAdapter(),
  facebook: new FacebookAdapter(),
  zoho: new ZohoAdapter(),
  dynamics: new DynamicsAdapter(),
  json: new JsonAdapter(),
};

/** The adapter of a source type (stateless, shared). */
export function adapterFor(type: SourceType): SourceAdapter {
  const adapter = ADAPTERS[type];
  if (!adapter) throw new Error(`unknown source type "${type}"`);
  return adapter;
}
