import { SourceAdapter } from '../source-adapter';
import { SourceType } from '../source.types';

/**
 * STUB (intake branch): the sources lib's implementation replaces this file with one adapter
 * per type. Typed as the contract names it so the intake compiles against it.
 */
export function adapterFor(type: SourceType): SourceAdapter {
  throw new Error(`adapterFor(${type}): not implemented`);
}
