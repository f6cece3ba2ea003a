import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { CaseResult } from '../../../src/producer/eval/case-result.ts';
import { writeResultsCsv } from '../../../src/producer/eval/write-results-csv.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-results-csv-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function result(id: string, fields: Partial<CaseResult> = {}): CaseResult {
  return {
    id,
    where: 'cases.jsonl:1',
    question: `question ${id}`,
    status: 'passed',
    answer: `answer ${id}`,
    scores: { contains: 1 },
    failedAssertions: [],
    sources: [{ id: 'doc.md', chunk: 0, score: 0.5 }],
    degraded: false,
    model: 'gpt-4o-mini',
    attempts: 1,
    timings: { queueMs: 1, retrieveMs: 2, generateMs: 3, totalMs: 6 },
    usage: { inputTokens: 10, outputTokens: 5 },
    traceId: 'a'.repeat(32),
    jobId: `job-${id}`,
    finishedAt: 0,
    ...fields,
  };
}

/** The file's rows as csv-parse (a reader that is not ours) reads them, header as keys. */
async function readRows(path: string): Promise<Record<string, string>[]> {
  return parse(await readFile(path), { bom: true, columns: true }) as Record<string, string>[];
}

describe('writeResultsCsv', () => {
  it('writes what a CSV reader reads back field for field, after a byte order mark', async () => {
    const path = join(dir, 'nasty.csv');
    const nasty = 'a "quoted", comma\r\nCRLF and\nLF, 中文, emoji 🙂, trailing space ';
    await writeResultsCsv(
      path,
      [
        result('a', { answer: nasty, expected: ['x, y', 'z'], failedAssertions: ['contains'] }),
        result('b', { status: 'error', answer: '', error: 'chat "down"', degraded: true }),
      ],
      ['contains'],
    );
    expect((await readFile(path)).subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    const rows = await readRows(path);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      id: 'a',
      answer: nasty,
      expected: 'x, y | z',
      'score:contains': '1',
      failedAssertions: 'contains',
      degraded: 'false',
      error: '',
    });
    expect(rows[1]).toMatchObject({
      id: 'b',
      status: 'error',
      answer: '',
      error: 'chat "down"',
      degraded: 'true',
      totalMs: '6',
    });
  });

  it('writes a field missing from an older results.jsonl as empty, not "undefined"', async () => {
    const path = join(dir, 'older.csv');
    const older = JSON.parse(
      JSON.stringify({ ...result('o'), model: undefined, traceId: undefined }),
    ) as CaseResult;
    await writeResultsCsv(path, [older], ['contains']);
    const [row] = await readRows(path);
    expect(row).toMatchObject({ id: 'o', model: '', traceId: '' });
  });

  it('streams a run larger than one chunk without losing or reordering a row', async () => {
    const path = join(dir, 'large.csv');
    const results = Array.from({ length: 3000 }, (_, i) =>
      result(`c${i}`, { answer: `line one, ${i}\n"line two"` }),
    );
    async function* streamed() {
      yield* results;
    }
    await writeResultsCsv(path, streamed(), ['contains']);
    const rows = await readRows(path);
    expect(rows.map((r) => r.id)).toEqual(results.map((r) => r.id));
    expect(rows.at(-1)?.answer).toBe('line one, 2999\n"line two"');
  });
});
