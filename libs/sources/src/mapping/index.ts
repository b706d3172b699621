export * from './wegroup-prospect-fields';
export * from './mapping-engine';
export * from './default-mappings';
export { countryCode, isoDate, language, pick, splitName, streetParts, text } from './mapping-functions';
