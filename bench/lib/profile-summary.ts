/**
 * Summarizes a V8 `.cpuprofile` (from `--cpu-prof` or the inspector) into where the time went: self
 * time by package / source file, and self and inclusive time by function. Usable on its own:
 *
 *   npx tsx bench/lib/profile-summary.ts bench/profiles/server-postgres-….cpuprofile [top]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, table } from './stats.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Groups a script URL into something a reader can act on: a package, one of our files, or a V8 bucket. */
export function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (idle), (program)
    if (/^js-to-wasm|^wasm-to-js|^\$?\d+$|wasm/i.test(functionName)) return 'wasm';
    return '(native)';
  }
  if (url.startsWith('wasm://')) return 'wasm';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  let file = url;
  try {
    if (url.startsWith('file://')) file = fileURLToPath(url);
  } catch {
    // keep the raw url
  }
  const nm = file.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = file.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return path.relative(ROOT, file) || file;
}

/** Coarse pipeline stage of an owner (see byOwner), so a profile reads as "where along the path". */
export function stage(owner: string): string {
  if (owner === '(idle)' || owner === '(garbage collector)' || owner === '(program)') return owner;
  if (
    /^src\/mqtt\/|^(aedes|aedes-.*|mqtt-packet|mqemitter|qlobber|bl|fastfall|fastparallel|fastseries|reusify|hyperid|retimer|end-of-stream|process-nextick-args)$/.test(
      owner,
    )
  )
    return 'MQTT broker / bridge';
  if (/^(pg|pg-.*|postgres-.*|pgpass|@electric-sql\/pglite|pglite-prisma-adapter|wasm)$/.test(owner)) return 'database driver (incl. PGlite)';
  if (/^src\/(domain|services)\//.test(owner)) return 'domain + services (src/)';
  if (/^(ws|graphql-ws|graphql|graphql-yoga|@graphql-.*|@repeaterjs\/.*|@whatwg-node\/.*|@envelop\/.*|@pothos\/.*|src\/(schema|http|events)\/.*)/.test(owner))
    return 'GraphQL subscriptions';
  if (/^@prisma\/|^src\/generated\//.test(owner)) return 'Prisma';
  if (/^(pino|pino-.*|sonic-boom|src\/logger\.ts)$/.test(owner)) return 'logging';
  if (owner.startsWith('bench/')) return 'bench instrumentation';
  return 'other';
}

function functionKey(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  return `${name} ${category(frame)}:${frame.lineNumber + 1}`;
}

export interface ProfileSummary {
  totalMs: number;
  byCategory: Array<[string, number]>;
  /** Self time charged to the nearest package / file on the stack (node internals and natives go to their caller). */
  byOwner: Array<[string, number]>;
  selfByFunction: Array<[string, number]>;
  inclusiveByFunction: Array<[string, number]>;
}

export function summarizeProfile(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));

  const cat = new Map<string, number>();
  const selfFn = new Map<string, number>();
  const inclFn = new Map<string, number>();
  const owner = new Map<string, number>();
  let total = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id)!;
    total += ms;
    const c = category(node.callFrame);
    cat.set(c, (cat.get(c) ?? 0) + ms);
    const key = functionKey(node.callFrame);
    selfFn.set(key, (selfFn.get(key) ?? 0) + ms);
    let who = c;
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const cn = category(byId.get(n)!.callFrame);
      if (cn.startsWith('node:') || cn === '(native)' || cn === '(root)') continue;
      who = cn;
      break;
    }
    owner.set(who, (owner.get(who) ?? 0) + ms);
    // Inclusive: every distinct function on the stack gets the sample once.
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const k = functionKey(byId.get(n)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclFn.set(k, (inclFn.get(k) ?? 0) + ms);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return { totalMs: total, byCategory: sorted(cat), byOwner: sorted(owner), selfByFunction: sorted(selfFn), inclusiveByFunction: sorted(inclFn) };
}

export function renderSummary(summary: ProfileSummary, top = 25): string {
  const pct = (ms: number) => `${fmt((100 * ms) / summary.totalMs, 1)}%`;
  const busy = summary.totalMs - (summary.byCategory.find(([c]) => c === '(idle)')?.[1] ?? 0);
  const rows = (list: Array<[string, number]>) => list.slice(0, top).map(([k, ms]) => [k.slice(0, 110), fmt(ms), pct(ms)]);
  const stages = new Map<string, number>();
  for (const [owner, ms] of summary.byOwner) stages.set(stage(owner), (stages.get(stage(owner)) ?? 0) + ms);
  return [
    `profile: ${fmt(summary.totalMs)} ms sampled, ${fmt(busy)} ms not idle`,
    '',
    'time by stage of the path (self time charged to the nearest package / file, see below)',
    table(['stage', 'ms', 'share'], rows([...stages].sort((a, b) => b[1] - a[1]))),
    '',
    'self time by package / file',
    table(['where', 'ms', 'share'], rows(summary.byCategory)),
    '',
    'self time charged to the nearest package / file on the stack (syscalls, natives and node internals go to their caller)',
    table(['owner', 'ms', 'share'], rows(summary.byOwner)),
    '',
    'self time by function',
    table(['function', 'ms', 'share'], rows(summary.selfByFunction)),
    '',
    'inclusive time by function (our code and the libraries on the hot path)',
    table(
      ['function', 'ms', 'share'],
      rows(summary.inclusiveByFunction.filter(([k]) => !/^\(root\)|^\(program\)|^\(idle\)|processTicksAndRejections|^\(anonymous\) node:/.test(k))),
    ),
  ].join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tsx bench/lib/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  console.log(renderSummary(summarizeProfile(profile), Number(process.argv[3] ?? 25)));
}
