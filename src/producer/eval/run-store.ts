import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

import type { BatchFallback, BatchRecord } from '../../shared/batch/batch-lane.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { Redis } from '../../shared/redis.ts';
import type { CaseResult } from './case-result.ts';
import type { InvalidCase } from './read-cases.ts';
import type { NamedVariant } from './variants.ts';

/** run.json: what was run, with which settings; written at start, updated as enqueueing ends. */
export interface RunManifest {
  runId: string;
  /** Absolute path of the question file. */
  file: string;
  createdAt: string;
  prefix: string;
  settings: {
    namespace?: string;
    topK?: number;
    /** `--grader`: the grader model the cases ask for. */
    grader?: string;
    /** `--variant`s, in order. */
    variants?: NamedVariant[];
    /** `--repeat`. */
    repeat?: number;
    /** Results per valid case: variants × repeats. */
    runsPerCase?: number;
    concurrency?: number;
    withWorker: boolean;
    maxCostUsd?: number;
    failUnder?: number;
    strict: boolean;
    priority: number;
    /** `batch`: answered through the Batch API (`--batch`). @defaultValue online */
    mode?: 'online' | 'batch';
    /** Where a batch's unanswered cases go. @defaultValue batch */
    batchFallback?: BatchFallback;
    /** `--allow-degraded`: degraded answers are scored; a resumed run keeps it. */
    allowDegraded?: boolean;
  };
  /** What makes the run reproducible (absent in runs made before askq recorded it). */
  reproducibility?: Reproducibility;
  /** The run's batches (batch lane), as last seen in Redis. */
  batches?: BatchRecord[];
  /** Rows read so far; `complete` once the whole file was read and every case enqueued. */
  enqueued: { valid: number; invalid: number; complete: boolean; stoppedBy?: 'max-cost' };
  /** Invalid rows (the first 1000). */
  invalidRows: InvalidCase[];
}

/** run.json's record of what a run was made with. */
export interface Reproducibility {
  /** sha256 of the question file's bytes. */
  fileSha256: string;
  askqVersion: string;
  /**
   * Providers and models as configured where the run was started (`provider:model`); deployed
   * workers answer with their own configuration, which each result's `model` records.
   */
  providers: { chat: string; embeddings: string; vectorStore: string };
  /** The grader model asked for (`--grader`), else the configured ASKQ_GRADER_MODEL, else none. */
  grader: string | null;
  variants: NamedVariant[];
  repeat: number;
}

export const RESULTS_FILE = 'results.jsonl';
export const MAX_INVALID_KEPT = 1000;

/** Where a run's files live: `--out`, else `.askq/runs/<runId>`. */
export function runDir(runId: string, out?: string): string {
  return resolve(out ?? join('.askq', 'runs', runId));
}

/** Redis key holding a run's folder, so a run written with `--out` is found by its id. */
function runDirKey(prefix: string, runId: string): string {
  return `${prefix}:eval-run-dirs:${runId}`;
}

/** Records where a run's files are, kept as long as its case jobs (`keepSeconds`). */
export async function recordRunDir(
  redis: Redis,
  prefix: string,
  runId: string,
  dir: string,
  keepSeconds: number,
): Promise<void> {
  await redis.set(runDirKey(prefix, runId), resolve(dir), 'EX', keepSeconds);
}

/**
 * Finds a run's folder from a folder path, or a run id: under `.askq/runs/`, else where the
 * run recorded it in Redis (a run written with `--out`).
 */
export async function locateRun(
  runIdOrDir: string,
  recorded?: { redis: Redis; prefix: string },
): Promise<string> {
  const candidates = [resolve(runIdOrDir), runDir(runIdOrDir)];
  if (recorded && /^[\w.-]+$/.test(runIdOrDir)) {
    const dir = await recorded.redis.get(runDirKey(recorded.prefix, runIdOrDir));
    if (dir) candidates.push(dir);
  }
  const found = candidates.find((d) => existsSync(join(d, 'run.json')));
  if (!found) {
    throw new ValidationError(
      `no run "${runIdOrDir}": no run.json in ${candidates.join(', ')}` +
        (recorded ? '' : ' (Redis not asked)'),
    );
  }
  return found;
}

export async function readManifest(dir: string): Promise<RunManifest> {
  const text = await readFile(join(dir, 'run.json'), 'utf8');
  return JSON.parse(text) as RunManifest;
}

/** Writes run.json atomically (temp file + rename), so a kill never leaves half of it. */
export async function writeManifest(dir: string, manifest: RunManifest): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `run.json.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(tmp, join(dir, 'run.json'));
}

/**
 * The results on disk, by case id (a later line for the same case wins: a retried error). A
 * line cut short by a kill is ignored; its case is simply not finished yet. Holds every
 * result: for tests and small runs; the CLI streams with {@link latestResults}.
 */
export async function readResults(dir: string): Promise<Map<string, CaseResult>> {
  const results = new Map<string, CaseResult>();
  for await (const line of lines(dir)) {
    const r = parseLine(line);
    if (r) results.set(r.id, r);
  }
  return results;
}

/** Parses one line of results.jsonl; undefined for a blank or torn line. */
function parseLine(line: string): CaseResult | undefined {
  if (line.trim() === '') return undefined;
  try {
    const r = JSON.parse(line) as CaseResult;
    return typeof r.id === 'string' && typeof r.status === 'string' ? r : undefined;
  } catch {
    // A torn last line from a killed run.
    return undefined;
  }
}

async function* lines(dir: string): AsyncIterable<string> {
  const path = join(dir, RESULTS_FILE);
  if (!existsSync(path)) return;
  yield* createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
}

/**
 * Each case's final result, streamed from results.jsonl in file order, holding one result at
 * a time (see {@link openLatestResults}, which reads the index once for several passes).
 */
export async function* latestResults(dir: string): AsyncIterable<CaseResult> {
  yield* (await openLatestResults(dir))();
}

/**
 * A results.jsonl up to this size is parsed once and held for every read: the summary, the
 * CSV and the report read a run's results four times at its end, and parsing each line again
 * was most of that time (about 24 ms a pass for 2,000 cases). Held, such a file costs a few
 * times its size in memory; a larger one is streamed, one result at a time.
 */
const HOLD_BYTES = 8 * 1024 * 1024;

/**
 * The run's final results as a stream that can be read again and again (summary, CSV,
 * report). One pass first notes the lines a later line for the same case supersedes (a
 * retried error is written again). A small file ({@link HOLD_BYTES}) keeps what that pass
 * parsed and each read yields it; a larger one is parsed again on each read, skipping the
 * superseded lines, so what stays in memory is their line numbers, none for a run without
 * retries.
 */
export async function openLatestResults(
  dir: string,
  { holdBytes = HOLD_BYTES }: { holdBytes?: number } = {},
): Promise<() => AsyncIterable<CaseResult>> {
  const superseded = new Set<number>();
  const path = join(dir, RESULTS_FILE);
  // Each result with its line's number.
  const held: [number, CaseResult][] | undefined =
    existsSync(path) && (await stat(path)).size <= holdBytes ? [] : undefined;
  {
    const lastLine = new Map<string, number>();
    let n = 0;
    for await (const line of lines(dir)) {
      n += 1;
      const r = parseLine(line);
      if (r === undefined) continue;
      held?.push([n, r]);
      const previous = lastLine.get(r.id);
      if (previous !== undefined) superseded.add(previous);
      lastLine.set(r.id, n);
    }
  }
  if (held) {
    const latest = held.filter(([n]) => !superseded.has(n)).map(([, r]) => r);
    // Each read yields the same objects: readers only read them.
    return async function* () {
      yield* latest;
    };
  }
  return async function* () {
    let n = 0;
    for await (const line of lines(dir)) {
      n += 1;
      if (superseded.has(n)) continue;
      const r = parseLine(line);
      if (r) yield r;
    }
  };
}

/** What resuming a run needs of each finished case: its status and what it cost so far. */
export interface ResultIndexEntry {
  status: CaseResult['status'];
}

/** The finished cases of a run by id (the last result of each), without their results. */
export async function readResultIndex(
  dir: string,
  each?: (r: CaseResult) => void,
): Promise<Map<string, ResultIndexEntry>> {
  const index = new Map<string, ResultIndexEntry>();
  for await (const line of lines(dir)) {
    const r = parseLine(line);
    if (!r) continue;
    index.set(r.id, { status: r.status });
    each?.(r);
  }
  return index;
}

/** Appends results to results.jsonl as they come; each write is whole lines. */
export interface ResultsWriter {
  append(results: CaseResult[]): Promise<void>;
  close(): Promise<void>;
}

export async function openResultsWriter(dir: string): Promise<ResultsWriter> {
  await mkdir(dir, { recursive: true });
  const handle = await open(join(dir, RESULTS_FILE), 'a+');
  // A kill mid-line leaves a torn line; start on a fresh one so the next result stays whole.
  const { size } = await handle.stat();
  if (size > 0) {
    const last = Buffer.alloc(1);
    await handle.read(last, 0, 1, size - 1);
    if (last.toString() !== '\n') await handle.write('\n');
  }
  let chain = Promise.resolve();
  return {
    append(results) {
      if (results.length === 0) return chain;
      const text = results.map((r) => `${JSON.stringify(r)}\n`).join('');
      chain = chain.then(async () => {
        await handle.write(text);
      });
      return chain;
    },
    async close() {
      await chain;
      await handle.close();
    },
  };
}
