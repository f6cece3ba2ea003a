import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

import { stringify } from 'csv-stringify';

import { citeSource } from '../../shared/chunk-location.ts';
import type { CaseResult } from './case-result.ts';

/**
 * results.csv: one row per case (and variant and repeat) for spreadsheets, streamed from the
 * results. Scores get a column each (`score:<key>`, keys given up front, from the summary);
 * lists are joined with `|`. Starts with a BOM so Excel reads it as UTF-8.
 */
export async function writeResultsCsv(
  path: string,
  results: Iterable<CaseResult> | AsyncIterable<CaseResult>,
  keys: readonly string[],
): Promise<void> {
  const scoreKeys = [...keys].sort();
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
    'caseId',
    'variant',
    'repeat',
  ];
  const toRow = (r: CaseResult) => [
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
    r.caseId ?? r.id,
    r.variant ?? '',
    r.repeat ?? '',
  ];
  const csv = stringify({ header: true, columns, bom: true, cast: { boolean: (b) => String(b) } });
  const out = createWriteStream(path);
  const done = pipeline(csv, out);
  for await (const r of results) {
    if (!csv.write(toRow(r))) await once(csv, 'drain');
  }
  csv.end();
  await done;
}
