/**
 * PostgreSQL array literals for statement parameters. node-postgres escapes and quotes every element of
 * a JS array parameter, a string per element; a literal built here is one string per array.
 */

/** A PostgreSQL array literal of numbers or booleans (JS prints both as PostgreSQL reads them). */
export function arrayLiteral(items: readonly (number | boolean)[]): string {
  return `{${items.join(',')}}`;
}

/** A PostgreSQL array literal of strings: each element quoted, so none reads as NULL; `"` and `\\` escaped. */
export function textArrayLiteral(items: readonly string[]): string {
  if (items.length === 0) return '{}';
  const escaped = items.some((item) => item.includes('"') || item.includes('\\')) ? items.map((item) => item.replace(/["\\]/g, '\\$&')) : items;
  return `{"${escaped.join('","')}"}`;
}
