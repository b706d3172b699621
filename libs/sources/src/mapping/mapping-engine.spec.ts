import jsonata from 'jsonata';
import { compileMapping, evaluateMapping, MAPPING_LIMITS, MappingCompileError, MappingEvaluationError } from './mapping-engine';

const limits = { ...MAPPING_LIMITS, timeoutMs: 200 };

describe('mapping engine', () => {
  it('names the JSONata error code and position of a mapping that does not compile', () => {
    try {
      compileMapping('{ "a": [1, 2 }');
      fail('compiled');
    } catch (error) {
      expect(error).toBeInstanceOf(MappingCompileError);
      expect((error as MappingCompileError).code).toMatch(/^S0\d{3}$/);
      expect((error as Error).message).toMatch(/^JSONata error S0\d{3} at position \d+: /);
    }
  });

  it('refuses an empty or too long mapping', () => {
    expect(() => compileMapping('  ')).toThrow('the mapping is empty');
    expect(() => compileMapping('1'.repeat(70_000))).toThrow('longer than 65536 characters');
  });

  it('stops an infinite recursion (depth) within the time limit', async () => {
    const mapping = compileMapping('( $f := function($n) { $n + $f($n + 1) }; $f(1) )', limits);
    const started = Date.now();
    await expect(evaluateMapping(mapping, {}, {}, limits)).rejects.toMatchObject({ name: 'MappingEvaluationError', code: expect.stringMatching(/^D101[12]$/) });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('stops a tail-recursive endless loop by time', async () => {
    const mapping = compileMapping('( $f := function($n) { $f($n + 1) }; $f(1) )', limits);
    const started = Date.now();
    await expect(evaluateMapping(mapping, {}, {}, limits)).rejects.toBeInstanceOf(MappingEvaluationError);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('stops work over a huge range', async () => {
    const mapping = compileMapping('$sum([1..10000000].($ * 2))', limits);
    const started = Date.now();
    await expect(evaluateMapping(mapping, {}, {}, limits)).rejects.toMatchObject({ code: expect.stringMatching(/^D(1012|2015)$/) });
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('shows why the timebox of the docs is not used: a hook assigned by name never fires in jsonata 2.x', async () => {
    const expression = jsonata('1 + 1');
    let fired = 0;
    expression.assign('__evaluate_entry', () => void fired++);
    await expression.evaluate({});
    expect(fired).toBe(0);
  });

  it('caps the input and the result', async () => {
    const small = { ...limits, maxInputBytes: 100, maxResultBytes: 50 };
    const identity = compileMapping('$', small);
    await expect(evaluateMapping(identity, { big: 'x'.repeat(200) }, {}, small)).rejects.toThrow('the input is larger than 100 bytes');
    const grow = compileMapping('$pad("", 80, "x")', small);
    await expect(evaluateMapping(grow, {}, {}, small)).rejects.toThrow('the result is larger than 50 bytes');
  });

  it('gives plain JSON, bindings and the helpers', async () => {
    const mapping = compileMapping('{ "a": $x, "b": $text("  "), "c": $isoDate("1577836800000"), "d": $language("nl-BE"), "f": function() { 1 } }');
    expect(await evaluateMapping(mapping, {}, { x: 1 })).toEqual({ a: 1, c: '2020-01-01', d: 'NL' });
  });
});
