/**
 * The rows of a device import file (`npm run devices -- import`), pure: CSV with a header row, or JSON
 * Lines. Every problem is reported with its line, and a file with any problem imports nothing, so a
 * typo in row 9,000 does not leave 8,999 devices half-imported with credentials nobody wrote down.
 *
 * CSV (RFC 4180: quoted fields may hold commas, quotes doubled, line breaks): the header names the
 * columns, `deviceId` required, `name`, `tags` and `model` optional, in any order; tags within a cell
 * are separated by `;` (a tag may not contain one). JSON Lines: one object per line,
 * `{"deviceId": "…", "name"?: "…", "tags"?: ["…"], "model"?: "…"}`. Blank lines are skipped.
 */

export interface ImportRow {
  /** 1-based line of the file the row starts on (for messages). */
  line: number;
  deviceId: string;
  name?: string;
  tags?: string[];
  model?: string;
}

export interface ImportProblem {
  line: number;
  message: string;
}

export type ImportParse = { ok: true; rows: ImportRow[] } | { ok: false; problems: ImportProblem[] };

const COLUMNS = ['deviceId', 'name', 'tags', 'model'] as const;

/** Parses by the file name's extension: `.csv`, or `.jsonl` / `.ndjson`. */
export function parseImportFile(fileName: string, text: string): ImportParse {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.csv')) return parseCsvImport(text);
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return parseJsonLinesImport(text);
  return { ok: false, problems: [{ line: 0, message: `${fileName}: expected a .csv, .jsonl or .ndjson file` }] };
}

export function parseJsonLinesImport(text: string): ImportParse {
  const rows: ImportRow[] = [];
  const problems: ImportProblem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      problems.push({ line, message: `not JSON: ${(error as Error).message}` });
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({ line, message: 'expected an object {"deviceId": …}' });
      return;
    }
    const o = value as Record<string, unknown>;
    const unknownKeys = Object.keys(o).filter((k) => !(COLUMNS as readonly string[]).includes(k));
    if (unknownKeys.length > 0) problems.push({ line, message: `unknown field(s) ${unknownKeys.join(', ')} (known: ${COLUMNS.join(', ')})` });
    if (typeof o.deviceId !== 'string' || o.deviceId === '') problems.push({ line, message: 'deviceId must be a non-empty string' });
    for (const key of ['name', 'model'] as const) {
      if (o[key] !== undefined && o[key] !== null && typeof o[key] !== 'string') problems.push({ line, message: `${key} must be a string` });
    }
    if (o.tags !== undefined && o.tags !== null && !(Array.isArray(o.tags) && o.tags.every((t) => typeof t === 'string'))) {
      problems.push({ line, message: 'tags must be an array of strings' });
    }
    if (problems.some((p) => p.line === line)) return;
    const row: ImportRow = { line, deviceId: o.deviceId as string };
    if (typeof o.name === 'string') row.name = o.name;
    if (Array.isArray(o.tags)) row.tags = o.tags as string[];
    if (typeof o.model === 'string') row.model = o.model;
    rows.push(row);
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, rows };
}

export function parseCsvImport(text: string): ImportParse {
  const records = csvRecords(text);
  if (!records.ok) return { ok: false, problems: [records.problem] };
  const nonEmpty = records.records.filter((r) => !(r.fields.length === 1 && r.fields[0] === ''));
  const header = nonEmpty[0];
  if (!header) return { ok: false, problems: [{ line: 1, message: 'empty file: expected a header row with at least deviceId' }] };
  const problems: ImportProblem[] = [];
  const names = header.fields.map((f) => f.trim());
  const unknown = names.filter((n) => !(COLUMNS as readonly string[]).includes(n));
  if (unknown.length > 0) problems.push({ line: header.line, message: `unknown column(s) ${unknown.join(', ')} (known: ${COLUMNS.join(', ')})` });
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  if (repeated.length > 0) problems.push({ line: header.line, message: `repeated column(s) ${[...new Set(repeated)].join(', ')}` });
  if (!names.includes('deviceId')) problems.push({ line: header.line, message: 'the header has no deviceId column' });
  if (problems.length > 0) return { ok: false, problems };

  const column = (name: (typeof COLUMNS)[number]) => names.indexOf(name);
  const rows: ImportRow[] = [];
  for (const record of nonEmpty.slice(1)) {
    if (record.fields.length !== names.length) {
      problems.push({ line: record.line, message: `${record.fields.length} fields, the header has ${names.length}` });
      continue;
    }
    const cell = (name: (typeof COLUMNS)[number]): string | undefined => {
      const i = column(name);
      return i < 0 ? undefined : record.fields[i];
    };
    const deviceId = cell('deviceId')!.trim();
    if (deviceId === '') {
      problems.push({ line: record.line, message: 'deviceId is empty' });
      continue;
    }
    const row: ImportRow = { line: record.line, deviceId };
    const name = cell('name');
    if (name !== undefined && name !== '') row.name = name;
    const tags = cell('tags');
    if (tags !== undefined && tags.trim() !== '') row.tags = tags.split(';').map((t) => t.trim());
    const model = cell('model');
    if (model !== undefined && model.trim() !== '') row.model = model.trim();
    rows.push(row);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, rows };
}

interface CsvRecord {
  line: number;
  fields: string[];
}

/** RFC 4180 records with the line each starts on; an unterminated quote is a problem, not a guess. */
function csvRecords(text: string): { ok: true; records: CsvRecord[] } | { ok: false; problem: ImportProblem } {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let quoted = false;
  let quoteLine = 0;
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text; // a BOM from spreadsheet exports
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      quoteLine = line;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && src[i + 1] === '\n') i++;
      fields.push(field);
      records.push({ line: recordLine, fields });
      fields = [];
      field = '';
      line++;
      recordLine = line;
    } else field += c;
  }
  if (quoted) return { ok: false, problem: { line: quoteLine, message: 'a quoted field is never closed' } };
  if (field !== '' || fields.length > 0) {
    fields.push(field);
    records.push({ line: recordLine, fields });
  }
  return { ok: true, records };
}
