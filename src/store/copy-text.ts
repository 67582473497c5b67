/**
 * Encoding for PostgreSQL's COPY text format (PostgreSQL docs, "COPY — Text Format"):
 * columns separated by TAB, rows by LF, NULL as \N, and backslash, TAB, LF and CR escaped.
 * Used for group commits because COPY is the fastest bulk path on both PGlite and pg.
 */
const ESCAPES = /[\\\t\n\r]/g;
const ESCAPED: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const escapeChar = (c: string): string => ESCAPED[c]!;

export function copyField(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value !== 'string') return String(value);
  // One regex pass in V8 (the string itself when nothing matches) rather than a string built a
  // character at a time: JSON text columns (a decision's rationale) often hold backslashes.
  return value.replace(ESCAPES, escapeChar);
}

/**
 * COPY-escapes JSON produced by JSON.stringify, which never contains a raw TAB, LF or CR (it
 * writes them as \t, \n, \r escapes), so only backslashes need doubling — a cheaper path for the
 * largest column of every event.
 */
export function copyJson(json: string): string {
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

/**
 * Rows of plain values as COPY text, columns in the given order: Date as ISO 8601, null and
 * undefined as NULL, strings escaped (JSON columns arrive as JSON text).
 */
export function copyLines(rows: ReadonlyArray<Record<string, unknown>>, columns: readonly string[]): string {
  let text = '';
  for (const row of rows) {
    for (let i = 0; i < columns.length; i++) {
      const v = row[columns[i]!];
      if (i > 0) text += '\t';
      text += v instanceof Date ? v.toISOString() : copyField(v as string | number | boolean | null | undefined);
    }
    text += '\n';
  }
  return text;
}
