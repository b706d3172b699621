import { BODY_LIMITS, checkBodyShape } from './body-limits';

const nest = (levels: number, leaf: unknown = 1): unknown => (levels === 0 ? leaf : { a: nest(levels - 1, leaf) });

describe('checkBodyShape', () => {
  it('accepts a lead-sized body', () => {
    expect(checkBodyShape({ prospect: { first_name: 'Foo', risk_objects: { cars: [{ vin: 'X', options: nest(5) }] } } })).toEqual([]);
  });

  it('allows 10 levels and names the path of the 11th', () => {
    expect(checkBodyShape(nest(10))).toEqual([]); // the body and 9 objects inside it
    expect(checkBodyShape(nest(11))).toEqual([
      { field: 'a.a.a.a.a.a.a.a.a.a', message: 'a.a.a.a.a.a.a.a.a.a is nested deeper than 10 levels (the whole body may be at most 10 levels deep)' },
    ]);
    expect(checkBodyShape({ list: [[[[[[[[[1]]]]]]]]] })).toEqual([]);
    expect(checkBodyShape({ list: [[[[[[[[[[1]]]]]]]]]] })[0].field).toBe('list.0.0.0.0.0.0.0.0.0');
  });

  it('survives a body nested far deeper than the stack would allow to recurse', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(checkBodyShape({ x: deep })).toHaveLength(1);
  });

  it('bounds the number of entries, string lengths and field names', () => {
    const wide = Object.fromEntries(Array.from({ length: BODY_LIMITS.maxEntries }, (_, i) => [`f${i}`, 1]));
    expect(checkBodyShape({ wide })).toEqual([{ field: '(body)', message: 'the body has more than 5000 fields and array items' }]);
    expect(checkBodyShape({ list: Array.from({ length: 4_000 }, () => 0) })).toEqual([]);
    expect(checkBodyShape({ p: { notes: 'x'.repeat(10_001) } })).toEqual([{ field: 'p.notes', message: 'p.notes is longer than 10000 characters' }]);
    expect(checkBodyShape({ p: { ['k'.repeat(201)]: 1 } })).toEqual([{ field: 'p', message: 'p has a field name longer than 200 characters' }]);
  });

  it('lists at most 20 problems', () => {
    const body = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`s${i}`, 'x'.repeat(10_001)]));
    expect(checkBodyShape(body)).toHaveLength(20);
  });
});
