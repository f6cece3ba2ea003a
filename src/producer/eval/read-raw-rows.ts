import { createReadStream } from 'node:fs';
import { extname } from 'node:path';
import { createInterface } from 'node:readline';

import { parse as parseCsv } from 'csv-parse';
import streamArray from 'stream-json/streamers/stream-array.js';

/** One row of a question file before validation: an object, or why it could not be read. */
export type RawRow =
  | { where: string; line?: number; row: Record<string, unknown> }
  | { where: string; line?: number; error: string };

export type QuestionFileFormat = 'jsonl' | 'csv' | 'json';

/** The format of a question file, from its extension (`.jsonl`/`.ndjson`, `.csv`, `.json`). */
export function formatOf(path: string): QuestionFileFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.json') return 'json';
  return undefined;
}

/**
 * Streams the rows of a question file, one at a time, so a file of a million rows never sits in
 * memory. UTF-8 with or without a BOM; blank lines are skipped. A row that cannot be parsed is
 * yielded as an error with its line (JSONL, CSV) or item index (JSON) and reading goes on,
 * except for JSON syntax errors, after which a JSON array cannot be resynchronised.
 */
export function readRawRows(path: string, format: QuestionFileFormat): AsyncIterable<RawRow> {
  if (format === 'jsonl') return readJsonl(path);
  if (format === 'csv') return readCsv(path);
  return readJsonArray(path);
}

async function* readJsonl(path: string): AsyncIterable<RawRow> {
  const lines = createInterface({
    input: createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  let line = 0;
  for await (const raw of lines) {
    line += 1;
    const text = (line === 1 ? raw.replace(/^\uFEFF/, '') : raw).trim();
    if (text === '') continue;
    const where = `line ${line}`;
    try {
      const value: unknown = JSON.parse(text);
      if (isObject(value)) yield { where, line, row: value };
      else yield { where, line, error: 'not a JSON object' };
    } catch (err) {
      yield { where, line, error: `unparseable JSON: ${(err as Error).message}` };
    }
  }
}

async function* readCsv(path: string): AsyncIterable<RawRow> {
  const skipped: RawRow[] = [];
  const parser = createReadStream(path).pipe(
    parseCsv({
      bom: true,
      columns: (header: string[]) => header.map((h) => h.trim()),
      skip_empty_lines: true,
      relax_column_count: true,
      trim: false,
      // Spreadsheet exports put quotes inside unquoted cells (`["a.md"]`); take them literally.
      relax_quotes: true,
      info: true,
      raw: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        const line = typeof err?.lines === 'number' ? err.lines : undefined;
        skipped.push({
          where: line === undefined ? 'a CSV record' : `line ${line}`,
          ...(line === undefined ? {} : { line }),
          error: `unparseable CSV: ${err?.message ?? 'unknown error'}`,
        });
        return undefined;
      },
    }),
  );
  for await (const item of parser as AsyncIterable<{
    record: Record<string, string>;
    raw: string;
    info: { lines: number };
  }>) {
    // `lines` is the line the record ends on (one more in CRLF files, where `raw` ends in a
    // lone CR): its first line is that minus the line breaks quoted inside it.
    const inner = item.raw.replace(/\r?\n$/, '').match(/\n/g)?.length ?? 0;
    const line = item.info.lines - inner - (item.raw.endsWith('\r') ? 1 : 0);
    // The parser runs ahead of this loop: report the errors it met before this record only.
    while (skipped.length > 0 && (skipped[0]!.line ?? 0) < line) yield skipped.shift()!;
    const row = Object.fromEntries(Object.entries(item.record).filter(([k]) => k !== ''));
    // A row of only empty cells (",,,") is a blank line in a spreadsheet's export.
    if (Object.values(row).every((v) => v.trim() === '')) continue;
    yield { where: `line ${line}`, line, row };
  }
  yield* skipped.splice(0);
}

async function* readJsonArray(path: string): AsyncIterable<RawRow> {
  const items = createReadStream(path).pipe(streamArray.withParserAsStream());
  try {
    for await (const { key, value } of items as AsyncIterable<{ key: number; value: unknown }>) {
      const where = `item ${key + 1}`;
      if (isObject(value)) yield { where, row: value };
      else yield { where, error: 'not a JSON object' };
    }
  } catch (err) {
    yield { where: 'the JSON array', error: `unparseable JSON: ${(err as Error).message}` };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
