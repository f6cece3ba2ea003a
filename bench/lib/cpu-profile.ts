import { readFile } from 'node:fs/promises';

import { fmt } from './bench-result.ts';

/** The parts of V8's .cpuprofile JSON (`node --cpu-prof`) the summary reads. */
interface CpuProfile {
  startTime: number;
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  /** `functionName (file:line)` or a file / package name. */
  name: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Self time by function (callFrame url + functionName), highest first. */
  functions: SelfTime[];
  /**
   * Self time by where the code lives: a package or a src/ file. Time in Node internals and
   * native code (V8 builtins, C++ bindings such as a socket write) is billed to the nearest
   * caller outside them, so `writeBuffer` under ioredis counts for ioredis.
   */
  places: SelfTime[];
  /**
   * Of each place's self time, the part in its own code (frames whose file is that place),
   * without the Node internals and native code billed to it: for `src/x.ts` calling
   * `http.request`, what askq's JavaScript costs apart from Node's HTTP machinery.
   */
  ownMs: Map<string, number>;
}

/**
 * Aggregates a profile's self time by function and by place (package or src file), counting
 * only samples inside `window` (µs on V8's monotonic clock, which is `process.hrtime`'s) when
 * given, so process start and module loading stay out.
 */
export async function summarizeCpuProfile(
  file: string,
  root: string,
  window?: { startUs: number; endUs: number },
): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const placeCache = new Map<number, string>();
  const placeOfNode = (id: number): string => {
    const cached = placeCache.get(id);
    if (cached !== undefined) return cached;
    const frame = byId.get(id)!;
    let where: string;
    if (frame.url && (!frame.url.startsWith('node:') || frame.url.startsWith(UNDICI)))
      where = placeOf(frame.url, root);
    else if (/^\((garbage collector|idle|program|root)\)$/.test(frame.functionName))
      where = frame.functionName;
    else {
      const parent = parentOf.get(id);
      where = parent === undefined ? NO_CALLER : placeOfNode(parent);
      if (where === '(root)') where = NO_CALLER;
    }
    placeCache.set(id, where);
    return where;
  };
  const fn = new Map<string, number>();
  const place = new Map<string, number>();
  const ownMs = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (window && (at < window.startUs || at > window.endUs)) return;
    const dt = delta / 1000;
    const frame = byId.get(id);
    if (!frame) return;
    total += dt;
    const file = shortUrl(frame.url, root);
    const name = frame.url
      ? `${frame.functionName || '(anonymous)'} (${file}:${frame.lineNumber + 1})`
      : frame.functionName;
    fn.set(name, (fn.get(name) ?? 0) + dt);
    const where = placeOfNode(id);
    place.set(where, (place.get(where) ?? 0) + dt);
    if (frame.url && placeOf(frame.url, root) === where)
      ownMs.set(where, (ownMs.get(where) ?? 0) + dt);
  });
  const sorted = (m: Map<string, number>) =>
    [...m.entries()]
      .map(([name, ms]) => ({ name, ms, share: ms / total }))
      .sort((a, b) => b.ms - a.ms);
  return { totalMs: total, functions: sorted(fn), places: sorted(place), ownMs };
}

const NO_CALLER = '(Node internals / native, no package on the stack)';

/** undici, bundled in Node as its global `fetch`: a place of its own, not "Node internals". */
const UNDICI = 'node:internal/deps/undici/';

function shortUrl(url: string, root: string): string {
  return url.replace(/^file:\/\//, '').replace(root, '');
}

/** `node_modules/@scope/pkg`, `src/worker/x.ts` or `node: (Node.js internals)`. */
function placeOf(url: string, root: string): string {
  const path = shortUrl(url, root);
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (pkg) return `node_modules/${pkg[1]}`;
  if (path.startsWith(UNDICI)) return 'undici (Node’s global fetch)';
  if (path.startsWith('node:')) return 'node: (Node.js internals)';
  return path;
}

/** One place's CPU per job in two profiles (`a` and `b`), each scaled to its measured CPU per job. */
export interface PlaceDifference {
  name: string;
  a: number;
  b: number;
}

/**
 * Two profiles' places side by side, largest difference (`a` − `b`) first. Each profile's busy
 * places (those `isBusy` keeps) are scaled to the CPU per job measured outside the profiler, so
 * the rows are µs per job in shares of that profile's busy samples: a sampled split of a
 * measured total.
 */
export function placeDifferences(
  a: { summary: ProfileSummary; usPerJob: number },
  b: { summary: ProfileSummary; usPerJob: number },
  isBusy: (place: string) => boolean = (place) => place !== '(idle)',
): PlaceDifference[] {
  const perPlace = ({ summary, usPerJob }: { summary: ProfileSummary; usPerJob: number }) => {
    const busy = summary.places.filter((x) => isBusy(x.name));
    const busyMs = busy.reduce((sum, x) => sum + x.ms, 0);
    return new Map(busy.map((x) => [x.name, (x.ms / busyMs) * usPerJob]));
  };
  const inA = perPlace(a);
  const inB = perPlace(b);
  return [...new Set([...inA.keys(), ...inB.keys()])]
    .map((name) => ({ name, a: inA.get(name) ?? 0, b: inB.get(name) ?? 0 }))
    .sort((x, y) => y.a - y.b - (x.a - x.b));
}

/**
 * The µs per job of src/ places only `a` runs (its own code, which `b` does not have), and the
 * markdown table of the `top` places with the largest difference.
 */
export function differenceTable(
  rows: PlaceDifference[],
  names: { a: string; b: string },
  top = 15,
): { srcOnlyUs: number; table: string[] } {
  const srcOnlyUs = rows
    .filter((r) => r.name.startsWith('src/') && r.b === 0)
    .reduce((sum, r) => sum + r.a, 0);
  const esc = (x: string) => x.replace(/\|/g, '\\|');
  return {
    srcOnlyUs,
    table: [
      `| place | ${names.a}, µs per job | ${names.b}, µs per job | difference |`,
      '| --- | --- | --- | --- |',
      ...rows
        .slice(0, top)
        .map(
          (r) => `| \`${esc(r.name)}\` | ${fmt(r.a, 1)} | ${fmt(r.b, 1)} | ${fmt(r.a - r.b, 1)} |`,
        ),
    ],
  };
}
