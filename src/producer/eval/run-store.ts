import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

import { ValidationError } from '../../shared/errors.ts';
import type { Redis } from '../../shared/redis.ts';
import type { CaseResult } from './case-result.ts';
import type { InvalidCase } from './read-cases.ts';

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
    concurrency?: number;
    withWorker: boolean;
    maxCostUsd?: number;
    failUnder?: number;
    strict: boolean;
    priority: number;
  };
  /** Rows read so far; `complete` once the whole file was read and every case enqueued. */
  enqueued: { valid: number; invalid: number; complete: boolean; stoppedBy?: 'max-cost' };
  /** Invalid rows (the first 1000). */
  invalidRows: InvalidCase[];
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
 * line cut short by a kill is ignored; its case is simply not finished yet.
 */
export async function readResults(dir: string): Promise<Map<string, CaseResult>> {
  const results = new Map<string, CaseResult>();
  const path = join(dir, RESULTS_FILE);
  if (!existsSync(path)) return results;
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as CaseResult;
      if (typeof r.id === 'string' && typeof r.status === 'string') results.set(r.id, r);
    } catch {
      // A torn last line from a killed run.
    }
  }
  return results;
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
