import { BODY_LIMITS, checkBodyShape, hasMoreEntriesThan, InexactNumber, isExactNumber, markInexactNumbers, memberHasMoreEntriesThan } from './body-limits';

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

describe('numbers a double cannot hold exactly', () => {
  it.each(['0', '-0', '1.0', '1e2', '1E+2', '0.1', '12.5e3', '0.30000000000000004', '9007199254740991', '1.7976931348623157e308', '5e-324', '0.000001'])(
    '%s is exact',
    (literal) => expect(isExactNumber(literal)).toBe(true),
  );

  it.each(['1e400', '-1e400', '123456789012345678901234567890', '9007199254740993', '1e-400', '0.1000000000000000000001'])('%s is not', (literal) => {
    expect(isExactNumber(literal)).toBe(false);
  });

  it('marks them where they are in the parsed body, and names them as problems', () => {
    const text = '{"a":[1,{"b":1e400,"c":"x:1e5"}],"d":{"e":123456789012345678901234567890,"f":2.50e1}}';
    const body = JSON.parse(text) as { a: [number, { b: unknown; c: string }]; d: { e: unknown; f: number } };
    markInexactNumbers(text, body);
    expect(body.a[1].b).toBeInstanceOf(InexactNumber);
    expect(body.d.e).toBeInstanceOf(InexactNumber);
    expect([body.a[0], body.a[1].c, body.d.f]).toEqual([1, 'x:1e5', 25]);
    expect(checkBodyShape(body).map((problem) => problem.field)).toEqual(['a.1.b', 'd.e']);
  });

  it('leaves a body without suspicious numbers alone', () => {
    const text = '{"id":"6f1c1f8e-6d0e-4c47-9a0e-2f3d6c1b9a10","n":[1,2.5,-3]}';
    const body = JSON.parse(text) as unknown;
    markInexactNumbers(text, body);
    expect(body).toEqual(JSON.parse(text));
  });
});

describe('reserved names and entry counts', () => {
  it('refuses a field named like a member of every object, at any level', () => {
    expect(checkBodyShape(JSON.parse('{"p":{"constructor":1,"x":[{"toString":"a"}]}}'))).toEqual([
      { field: 'p.constructor', message: 'p.constructor is a reserved name (a member of every JavaScript object); rename the field' },
      { field: 'p.x.0.toString', message: 'p.x.0.toString is a reserved name (a member of every JavaScript object); rename the field' },
    ]);
  });

  it('counts entries over all levels, stopping once over', () => {
    expect(hasMoreEntriesThan({ a: [1, 2, { b: 3 }] }, 5)).toBe(false);
    expect(hasMoreEntriesThan({ a: [1, 2, { b: 3, c: 4 }] }, 5)).toBe(true);
  });

  describe('entries of a member, read from the unparsed text', () => {
    const over = (body: string, max: number) => memberHasMoreEntriesThan(Buffer.from(body), 'leads', max);

    it('agrees with the parsed count where the text has more commas than the limit', () => {
      const body = JSON.stringify({ leads: [{ a: 1, b: [1, 2] }, { c: { d: 1, e: 2 } }] });
      // Under leads: 2 items, a, b, b's 2 items, c, d, e = 9 entries, with 4 commas between them.
      expect(hasMoreEntriesThan(JSON.parse(body).leads, 3)).toBe(true);
      expect(over(body, 3)).toBe(true);
      expect(over(body, 4)).toBe(false);
    });

    it('does not count commas in strings, in keys, or in other members', () => {
      expect(over(JSON.stringify({ leads: [{ a: ',,,,,,,,,,', 'b,,,,': 1 }] }), 2)).toBe(false);
      expect(over(JSON.stringify({ other: [1, 2, 3, 4, 5, 6], leads: [1] }), 2)).toBe(false);
      expect(over(JSON.stringify({ leads: [{ a: 'say \\"hi\\", \\\\', b: ['x,y', 'z'] }] }), 2)).toBe(false);
      expect(over(JSON.stringify({ leads: [{ a: 'x", 1, 2, 3, 4, 5', b: 1 }] }), 2)).toBe(false);
    });

    it('reads the member JSON.parse keeps: the last of that name, however its key is escaped', () => {
      expect(over('{"leads":[1,2,3,4,5,6],"leads":[1]}', 2)).toBe(false);
      expect(over('{"leads":[1],"le\\u0061ds":[1,2,3,4,5,6]}', 2)).toBe(true);
      expect(over('{"leads":[1,2,3,4,5,6], "x": {"leads": 1}}', 2)).toBe(true);
    });
  });
});
