import jsonata from 'jsonata';
import { registerMappingFunctions } from './mapping-functions';

/** Limits of one mapping: it runs in the worker's process, on data a platform sent. */
export interface MappingLimits {
  /** Longest a mapping's text may be. */
  maxExpressionLength: number;
  /** Wall-clock time of one evaluation. */
  timeoutMs: number;
  /** Nesting of evaluation (recursion). */
  maxDepth: number;
  /** Items of any one sequence it builds (`[1..1e7]`, a huge $map). */
  maxSequence: number;
  /** The input document, as JSON. */
  maxInputBytes: number;
  /** The result, as JSON: a lead is at most a few KB (the intake takes 256 KB). */
  maxResultBytes: number;
}

export const MAPPING_LIMITS: MappingLimits = {
  maxExpressionLength: 64 * 1024,
  timeoutMs: 500,
  maxDepth: 500,
  maxSequence: 100_000,
  maxInputBytes: 2 * 1024 * 1024,
  maxResultBytes: 256 * 1024,
};

/** A JSONata error as jsonata throws it (a plain object, not an Error). */
interface JsonataFailure {
  code?: string;
  position?: number;
  token?: string;
  message?: string;
}

/** The mapping is not valid JSONata; the message names JSONata's error code and position. */
export class MappingCompileError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    readonly position: number | null,
  ) {
    super(message);
    this.name = 'MappingCompileError';
  }
}

/** Evaluation failed (an error in the expression, a limit reached, a result too large). */
export class MappingEvaluationError extends Error {
  constructor(
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'MappingEvaluationError';
  }
}

/** A compiled mapping: its text (for messages) and the expression. */
export interface CompiledMapping {
  readonly text: string;
  readonly expression: jsonata.Expression;
}

/**
 * Compiles a JSONata mapping with the helper functions registered and the evaluation
 * guardrails set: jsonata 2.x checks `timeout` (ms) and `stack` (depth) at every step it
 * evaluates and `sequence` at every sequence it grows, throwing D1012, D1011, D2015.
 * (The timebox of JSONata's docs, `expr.assign('__evaluate_entry', …)`, no longer fires in
 * 2.x: the evaluator looks its hooks up by Symbol; these options are its replacement.)
 */
export function compileMapping(text: string, limits: MappingLimits = MAPPING_LIMITS): CompiledMapping {
  if (typeof text !== 'string' || text.trim() === '') throw new MappingCompileError('the mapping is empty', null, null);
  if (text.length > limits.maxExpressionLength) {
    throw new MappingCompileError(`the mapping is longer than ${limits.maxExpressionLength} characters`, null, null);
  }
  let expression: jsonata.Expression;
  try {
    expression = jsonata(text, { timeout: limits.timeoutMs, stack: limits.maxDepth, sequence: limits.maxSequence });
  } catch (error) {
    const failure = error as JsonataFailure;
    throw new MappingCompileError(describeFailure(failure), failure.code ?? null, failure.position ?? null);
  }
  registerMappingFunctions(expression);
  return { text, expression };
}

/**
 * Evaluates a compiled mapping on `input` within the limits. The result is plain JSON (what
 * JSON.stringify keeps: no functions, no undefined members), or throws MappingEvaluationError.
 */
export async function evaluateMapping(
  mapping: CompiledMapping,
  input: unknown,
  bindings: Record<string, unknown> = {},
  limits: MappingLimits = MAPPING_LIMITS,
): Promise<unknown> {
  const inputJson = JSON.stringify(input ?? null);
  if (inputJson.length > limits.maxInputBytes) {
    throw new MappingEvaluationError(`the input is larger than ${limits.maxInputBytes} bytes as JSON`);
  }
  let result: unknown;
  try {
    result = await mapping.expression.evaluate(input, bindings);
  } catch (error) {
    const failure = error as JsonataFailure;
    throw new MappingEvaluationError(describeFailure(failure), failure.code ?? null);
  }
  if (result === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(result, dropFunctions);
  } catch {
    throw new MappingEvaluationError('the result cannot be written as JSON');
  }
  if (json === undefined) return undefined;
  if (json.length > limits.maxResultBytes) throw new MappingEvaluationError(`the result is larger than ${limits.maxResultBytes} bytes as JSON`);
  return JSON.parse(json);
}

/** `JSONata error S0202 at position 12: Expected "]", got "}"`. JSONata's messages quote the expression, never the data. */
function describeFailure(failure: JsonataFailure): string {
  if (failure === null || typeof failure !== 'object') return 'JSONata error';
  const code = failure.code ? ` ${failure.code}` : '';
  const position = typeof failure.position === 'number' ? ` at position ${failure.position}` : '';
  const message = failure.message ? `: ${String(failure.message).slice(0, 300)}` : '';
  return `JSONata error${code}${position}${message}`;
}

/** JSONata functions (lambdas carry their environment, which is circular) are no lead data. */
function dropFunctions(_key: string, value: unknown): unknown {
  if (typeof value === 'function') return undefined;
  if (value !== null && typeof value === 'object' && (value as { _jsonata_lambda?: boolean })._jsonata_lambda) return undefined;
  return value;
}
