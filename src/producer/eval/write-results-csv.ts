import { open } from 'node:fs/promises';

import { citeSource } from '../../shared/chunk-location.ts';
import type { CaseResult } from './case-result.ts';

/**
 * results.csv: one row per case (and variant and repeat) for spreadsheets, streamed from the
 * results. Scores get a column each (`score:<key>`, keys given up front, from the summary);
 * lists are joined with `|`. Starts with a BOM so Excel reads it as UTF-8.
 *
 * RFC 4180 written here rather than through a CSV library's stream: csv-stringify took 83–90
 * ms for a 2,000-case run in a fresh process (most of the eval CLI's time after its last
 * answer), these few lines 31–35 ms. Rows are written in slices of about {@link SLICE_CHARS}.
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
  const file = await open(path, 'w');
  try {
    let slice = [`\ufeff${columns.map(csvField).join(',')}\n`];
    let chars = 0;
    for await (const r of results) {
      const line = `${toRow(r).map(csvField).join(',')}\n`;
      slice.push(line);
      chars += line.length;
      if (chars >= SLICE_CHARS) {
        await file.write(slice.join(''));
        slice = [];
        chars = 0;
      }
    }
    await file.write(slice.join(''));
  } finally {
    await file.close();
  }
}

/** Characters of rows gathered before each write. */
const SLICE_CHARS = 1 << 20;

const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One field: quoted when it holds a quote, comma or line break, its quotes doubled; empty for
 * a value missing from an older run's results.jsonl, as csv-stringify wrote it.
 */
function csvField(value: string | number | boolean | null | undefined): string {
  const text = value === undefined || value === null ? '' : String(value);
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
