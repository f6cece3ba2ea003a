import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

import { stringify } from 'csv-stringify';

import { citeSource } from '../../shared/chunk-location.ts';
import type { CaseResult } from './case-result.ts';

/**
 * results.csv: one row per case for spreadsheets. Scores get a column each (`score:<key>`);
 * lists are joined with `|`. Starts with a BOM so Excel reads it as UTF-8.
 */
export async function writeResultsCsv(path: string, results: readonly CaseResult[]): Promise<void> {
  const scoreKeys = [...new Set(results.flatMap((r) => Object.keys(r.scores)))].sort();
  const columns = [
    'id',
    'status',
    'question',
    'expected',
    'answer',
    ...scoreKeys.map((k) => `score:${k}`),
    'failedAssertions',
    'sources',
    'degraded',
    'attempts',
    'queueMs',
    'retrieveMs',
    'generateMs',
    'totalMs',
    'inputTokens',
    'outputTokens',
    'model',
    'error',
    'traceId',
  ];
  const rows = results.map((r) => [
    r.id,
    r.status,
    r.question,
    [r.expected ?? []].flat().join(' | '),
    r.answer,
    ...scoreKeys.map((k) => r.scores[k] ?? ''),
    r.failedAssertions.join('|'),
    r.sources.map(citeSource).join('|'),
    r.degraded,
    r.attempts,
    r.timings.queueMs,
    r.timings.retrieveMs,
    r.timings.generateMs,
    r.timings.totalMs,
    r.usage.inputTokens,
    r.usage.outputTokens,
    r.model,
    r.error ?? '',
    r.traceId,
  ]);
  const csv = stringify({ header: true, columns, bom: true, cast: { boolean: (b) => String(b) } });
  const out = createWriteStream(path);
  const done = pipeline(csv, out);
  for (const row of rows) csv.write(row);
  csv.end();
  await done;
}
