import { describe, expect, it } from 'vitest';
import { parseImportFile } from '../../src/cli/import-file.ts';

describe('device import files (src/cli/import-file.ts)', () => {
  it('reads CSV with a header in any order, quoted fields, tags split on ";", CRLF and a BOM', () => {
    const csv = '\uFEFFmodel,deviceId,tags,name\r\nthermo,d-1,"a; b",Hall 1\r\n,d-2,,"Quoted, ""with"" commas"\r\n\r\nthermo,d-3,c,"two\nlines"\n';
    expect(parseImportFile('fleet.CSV', csv)).toEqual({
      ok: true,
      rows: [
        { line: 2, deviceId: 'd-1', name: 'Hall 1', tags: ['a', 'b'], model: 'thermo' },
        { line: 3, deviceId: 'd-2', name: 'Quoted, "with" commas' },
        { line: 5, deviceId: 'd-3', name: 'two\nlines', tags: ['c'], model: 'thermo' },
      ],
    });
  });

  it('reads JSON Lines, skipping blank lines', () => {
    const jsonl = '{"deviceId":"j-1","tags":["x"],"model":"m"}\n\n{"deviceId":"j-2","name":"N","tags":null}\n';
    expect(parseImportFile('f.jsonl', jsonl)).toEqual({
      ok: true,
      rows: [
        { line: 1, deviceId: 'j-1', tags: ['x'], model: 'm' },
        { line: 3, deviceId: 'j-2', name: 'N' },
      ],
    });
  });

  it('reports every problem with its line and returns no rows', () => {
    expect(parseImportFile('f.csv', 'deviceId,colour\nd-1,red\n')).toEqual({
      ok: false,
      problems: [{ line: 1, message: 'unknown column(s) colour (known: deviceId, name, tags, model)' }],
    });
    expect(parseImportFile('f.csv', 'name\nx\n')).toEqual({ ok: false, problems: [{ line: 1, message: 'the header has no deviceId column' }] });
    expect(parseImportFile('f.csv', 'deviceId,name,name\n')).toMatchObject({ ok: false, problems: [{ line: 1, message: 'repeated column(s) name' }] });
    expect(parseImportFile('f.csv', 'deviceId,name\nd-1\n,empty\nd-3,"open\n')).toEqual({
      ok: false,
      problems: [{ line: 4, message: 'a quoted field is never closed' }],
    });
    expect(parseImportFile('f.csv', 'deviceId,name\nd-1\n,empty\n')).toEqual({
      ok: false,
      problems: [
        { line: 2, message: '1 fields, the header has 2' },
        { line: 3, message: 'deviceId is empty' },
      ],
    });
    expect(parseImportFile('f.csv', '')).toEqual({ ok: false, problems: [{ line: 1, message: 'empty file: expected a header row with at least deviceId' }] });
    const bad = parseImportFile('f.jsonl', '{"deviceId":1}\nnot json\n[1]\n{"deviceId":"ok","tags":"a","name":3,"colour":"red"}\n');
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problems.map((p) => [p.line, p.message.split(':')[0]])).toEqual([
      [1, 'deviceId must be a non-empty string'],
      [2, 'not JSON'],
      [3, 'expected an object {"deviceId"'],
      [4, 'unknown field(s) colour (known'],
      [4, 'name must be a string'],
      [4, 'tags must be an array of strings'],
    ]);
    expect(parseImportFile('f.xlsx', 'x')).toEqual({ ok: false, problems: [{ line: 0, message: 'f.xlsx: expected a .csv, .jsonl or .ndjson file' }] });
  });
});
