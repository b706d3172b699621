import { plainToInstance } from 'class-transformer';
import fc from 'fast-check';
import { lead, typicalLead } from '../../../test/support/lead-fixtures';
import { canonicalJson } from './canonical-json';
import { CreateLeadDto } from './dto/create-lead.dto';

/**
 * The hand-written function body_hash was computed with before canonicalJson, kept as the
 * reference: leads already stored carry its digests, and a replay must still match them.
 */
function previousStableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(previousStableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${previousStableStringify((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const BODIES: Array<[string, unknown]> = [
  ['the documented lead', lead()],
  ['a lead of typical size', typicalLead(7)],
  ['a lead as the intake holds it (class instances)', plainToInstance(CreateLeadDto, typicalLead(8))],
  ['keys in any order, nested', { b: { d: [3, { z: 1, a: [] }], c: null }, a: [{ y: {}, x: [[], [{}]] }], '': 0 }],
  ['integer-like and unicode keys', { '10': 'a', '2': 'b', é: 1, e: 2, Z: 3, '😀': 4, 'ﬀ': 5, '\u0000': 6, __proto__x: 7 }],
  [
    'unicode values',
    { name: 'Zoë Ødegård-Łukasz', cjk: '東京都', emoji: '👩‍👩‍👧 🇧🇪', combining: 'e\u0301', controls: '\u0000\b\t\n\f\r\u001f', quotes: '"\\/', separators: '\u2028\u2029', lone: '\ud800 \udfff' },
  ],
  ['numbers', [0, -0, 1, -1, 0.1, 1e21, 1e-7, 5e-324, Number.MAX_SAFE_INTEGER, 1.7976931348623157e308, 38_500, 3.14159]],
  ['not JSON numbers', { nan: NaN, inf: Infinity, ninf: -Infinity }],
  ['undefined in objects and arrays', { kept: 1, dropped: undefined, list: [undefined, 1, null] }],
  ['an own __proto__ key, as JSON.parse makes it', JSON.parse('{"__proto__":{"b":1,"a":2},"c":[1]}')],
  ['scalars', ['', 'x', true, false, null]],
  ['empty containers', { a: {}, b: [], c: [{}], d: { e: [] } }],
];

describe('canonicalJson', () => {
  it.each(BODIES)('writes %s exactly as body_hash was computed before', (_, body) => {
    expect(canonicalJson(body)).toBe(previousStableStringify(body));
  });

  it('sorts keys at every depth and leaves arrays in order', () => {
    expect(canonicalJson({ b: [{ d: 1, c: 2 }, 'x'], a: { f: null, e: undefined } })).toBe('{"a":{"f":null},"b":[{"c":2,"d":1},"x"]}');
  });

  it('agrees with the previous function on any JSON body, in any key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(previousStableStringify(value));
      }),
      { numRuns: 500 },
    );
  });

  it('agrees on strings of any code points, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })), (value) => {
        expect(canonicalJson(value)).toBe(previousStableStringify(value));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a circular value instead of hashing a placeholder', () => {
    const body: Record<string, unknown> = { a: 1 };
    body.self = body;
    expect(() => canonicalJson(body)).toThrow(TypeError);
  });
});
