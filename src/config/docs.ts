/**
 * The configuration docs, generated from the spec (src/config/spec.ts): docs/configuration.md (a table
 * per section) and .env.example (every variable commented out with its default). scripts/config-docs.ts
 * writes them (`npm run config:docs`) or checks the committed ones (`npm run config:check`).
 */
import { alternatives, isWhenUnset, patternText } from './read.ts';
import { GROUPS, VARIABLES, type GroupId, type Unit, type Variable, type VariableName } from './spec.ts';

/** A file generated from the spec, by its path from the repository root. */
export interface GeneratedFile {
  path: string;
  render(): string;
}

export const GENERATED_FILES: readonly GeneratedFile[] = [
  { path: 'docs/configuration.md', render: configurationMarkdown },
  { path: '.env.example', render: envExample },
];

const GENERATED_BY = 'Generated from src/config/spec.ts by `npm run config:docs`: edit the spec, not this file.';
const EMBEDDED_MODE = 'With none set, `npm start` runs the embedded mode: PGlite under `./data`, the Aedes MQTT broker on 1883, GraphQL on 4000.';

export function configurationMarkdown(): string {
  const lines = [
    '# Configuration',
    '',
    `<!-- ${GENERATED_BY} -->`,
    '',
    [
      'Doppel reads its configuration from the environment once, at start, and validates it: every bad variable is reported at once and the process exits with status 2.',
      `Every variable is optional. ${EMBEDDED_MODE}`,
      'Booleans are `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; integers are digits only; an empty value counts as unset.',
      '[`.env.example`](../.env.example) lists the same variables.',
    ].join(' '),
    '',
    ...sections().map(([, { title }]) => `- [${title}](#${anchor(title)})`),
  ];
  for (const [id, { title, intro }] of sections()) {
    lines.push('', `## ${title}`, '', intro, '', '| variable | type | default | bounds | meaning |', '|---|---|---|---|---|');
    for (const [name, spec] of variablesOf(id)) {
      const cells = [`\`${name}\``, typeText(spec), defaultMarkdown(spec), boundsMarkdown(spec), spec.doc];
      lines.push(`| ${cells.map((cell) => cell.replaceAll('|', '\\|')).join(' | ')} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export function envExample(): string {
  const lines = [
    ...comment(`Doppel configuration. ${GENERATED_BY} docs/configuration.md has the same in tables.`),
    '#',
    ...comment(
      `Every variable is optional. ${EMBEDDED_MODE} Doppel reads the process environment only: export these or use your process manager's env file. Each is shown commented out with its default; set only what you change, so the defaults can still improve with new releases.`,
    ),
  ];
  for (const [id, { title, intro }] of sections()) {
    lines.push('', `# ==== ${title} ====`, ...comment(intro));
    for (const [name, spec] of variablesOf(id)) {
      lines.push('', ...comment(spec.doc), ...comment(envFacts(spec).join(' '), /(?:[^\s(]*\([^)]*\)[^\s(]*)|\S+/g), `# ${name}=${exampleValue(spec)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function sections(): Array<[GroupId, (typeof GROUPS)[GroupId]]> {
  return Object.entries(GROUPS) as Array<[GroupId, (typeof GROUPS)[GroupId]]>;
}

function variablesOf(group: GroupId): Array<[VariableName, Variable]> {
  return (Object.entries(VARIABLES) as Array<[VariableName, Variable]>).filter(([, spec]) => spec.group === group);
}

/** GitHub's heading anchor. */
function anchor(title: string): string {
  return title
    .toLowerCase()
    .replace(/[^a-z0-9 -]/g, '')
    .replaceAll(' ', '-');
}

function typeText(spec: Variable): string {
  switch (spec.type) {
    case 'int':
      return spec.unit ? `integer (${spec.unit})` : 'integer';
    case 'bool':
      return 'boolean';
    case 'enum':
      return 'one of';
    case 'string':
      return 'string';
    case 'url':
      return 'URL';
    case 'secret':
      return 'secret';
  }
}

function defaultMarkdown(spec: Variable): string {
  if (isWhenUnset(spec.default)) return spec.default.unset;
  if (spec.type === 'int') return `\`${spec.default}\`${inParentheses(readable(spec.default, spec.unit))}`;
  return `\`${spec.default}\``;
}

function boundsMarkdown(spec: Variable): string {
  switch (spec.type) {
    case 'int':
      return `\`${spec.min}\`–\`${spec.max}\`${inParentheses(readableRange(spec.min, spec.max, spec.unit))}`;
    case 'bool':
      return '`true` / `false`';
    case 'enum':
      return spec.values.map((value) => `\`${value}\``).join(', ');
    case 'string':
      return spec.pattern ? `\`${patternText(spec.pattern)}\`` : '—';
    case 'url':
      return alternatives(spec.forms.map((form) => `\`${form}\``));
    case 'secret':
      return secretBounds(spec) ?? '—';
  }
}

/** The default and bounds as sentences, for a comment in .env.example. */
function envFacts(spec: Variable): string[] {
  const facts = [
    isWhenUnset(spec.default)
      ? `Unset: ${spec.default.unset}.`
      : `Default: ${spec.default}${spec.type === 'int' ? inParentheses(readable(spec.default, spec.unit)) : ''}.`,
  ];
  switch (spec.type) {
    case 'int':
      facts.push(`Range: ${spec.min}–${spec.max}${spec.unit ? ` ${spec.unit}` : ''}${inParentheses(readableRange(spec.min, spec.max, spec.unit))}.`);
      break;
    case 'enum':
      facts.push(`One of: ${spec.values.join(', ')}.`);
      break;
    case 'string':
      if (spec.pattern) facts.push(`Must match ${patternText(spec.pattern)}.`);
      break;
    case 'url':
      facts.push(`Forms: ${alternatives(spec.forms)}.`);
      break;
    case 'secret': {
      const bounds = secretBounds(spec);
      if (bounds) facts.push(`${bounds[0]!.toUpperCase()}${bounds.slice(1)}.`);
      break;
    }
    case 'bool':
      break;
  }
  return facts;
}

function secretBounds(spec: Extract<Variable, { type: 'secret' }>): string | undefined {
  if (spec.minLength !== undefined) return `at least ${spec.minLength} characters`;
  return spec.format;
}

function exampleValue(spec: Variable): string {
  if (!isWhenUnset(spec.default)) return String(spec.default);
  return 'example' in spec && spec.example !== undefined ? spec.example : '';
}

const SIZES: ReadonlyArray<[number, string]> = [
  [1024 * 1024, 'MiB'],
  [1024, 'KiB'],
];
const DURATIONS_MS: ReadonlyArray<[number, string]> = [
  [86_400_000, 'd'],
  [3_600_000, 'h'],
  [60_000, 'min'],
  [1000, 's'],
];

/** A number of bytes or a duration in the largest whole unit (256 KiB, 10 min), when that says more than the raw number. */
function readable(n: number, unit: Unit | undefined): string | undefined {
  const scaled = (value: number, scales: ReadonlyArray<[number, string]>, own: string) => {
    const [size, label] = scales.find(([size]) => value >= size && value % size === 0) ?? [1, own];
    return size === 1 ? undefined : `${value / size} ${label}`;
  };
  if (n === 0) return undefined;
  if (unit === 'bytes') return scaled(n, SIZES, 'bytes');
  if (unit === 'ms') return scaled(n, DURATIONS_MS, 'ms');
  // Seconds are already the unit people read; only minutes and longer say more.
  if (unit === 's') return scaled(n * 1000, DURATIONS_MS.slice(0, -1), 's');
  return undefined;
}

function readableRange(min: number, max: number, unit: Unit | undefined): string | undefined {
  const low = readable(min, unit);
  const high = readable(max, unit);
  if (low === undefined && high === undefined) return undefined;
  return `${low ?? (min === 0 ? '0' : `${min} ${unit}`)} – ${high ?? `${max} ${unit}`}`;
}

function inParentheses(text: string | undefined): string {
  return text === undefined ? '' : ` (${text})`;
}

/**
 * Text as `# ` comment lines of at most 100 characters, broken between the words `words` matches (a
 * longer word keeps its own line).
 */
function comment(text: string, words = /\S+/g): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.match(words) ?? []) {
    if (line.length > 1 && line.length + 1 + word.length > 100) {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}
