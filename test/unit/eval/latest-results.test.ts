import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { openLatestResults, RESULTS_FILE } from '../../../src/producer/eval/run-store.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-latest-results-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (id: string, status: string, answer = '') => JSON.stringify({ id, status, answer });

// Held in memory (a small file) and streamed again on each read (a file past holdBytes).
it.each([
  ['held', {}],
  ['streamed', { holdBytes: 0 }],
])('yields each case once, its last result, as often as it is read (%s)', async (_, options) => {
  await writeFile(
    join(dir, RESULTS_FILE),
    [
      line('a', 'error'),
      line('b', 'passed'),
      // A killed run's torn line, then the retried case written again.
      '{"id":"c","status":"fai',
      line('a', 'passed', 'retried'),
      line('c', 'failed'),
      '',
    ].join('\n'),
  );
  const results = await openLatestResults(dir, options);
  for (let read = 0; read < 2; read += 1) {
    const seen: { id: string; status: string; answer: string }[] = [];
    for await (const r of results()) seen.push({ id: r.id, status: r.status, answer: r.answer });
    expect(seen).toEqual([
      { id: 'b', status: 'passed', answer: '' },
      { id: 'a', status: 'passed', answer: 'retried' },
      { id: 'c', status: 'failed', answer: '' },
    ]);
  }
});
