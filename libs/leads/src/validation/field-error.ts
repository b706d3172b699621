/** One invalid field: its dotted path (`prospect.first_name`, `(body)` for the whole) and what is wrong with it. */
export interface FieldError {
  field: string;
  message: string;
}

/** `3 problems in a, b` or `4900 problems in a, …; 4880 more not listed`. */
export function describeProblems(errors: FieldError[], problems = errors.length): string {
  const fields = [...new Set(errors.map((e) => e.field))];
  const omitted = problems - errors.length;
  return `${problems} problem${problems === 1 ? '' : 's'} in ${fields.join(', ')}${omitted > 0 ? `; ${omitted} more not listed` : ''}`;
}
