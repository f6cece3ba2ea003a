import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';

import { z } from 'zod';

import { formatIssues } from '../shared/contracts.ts';

/** A document to ingest. `id` is what answers cite as `sources[].id`. */
export interface SourceDocument {
  id: string;
  text: string;
  metadata: Record<string, string>;
}

/** A file or line that was skipped, with why. */
export interface SkippedInput {
  /** `path` or `path:line`. */
  where: string;
  reason: string;
}

export const INGESTIBLE_EXTENSIONS = ['.txt', '.md', '.jsonl'] as const;

const jsonlLineSchema = z.object({
  id: z.union([z.string().min(1).max(512), z.number()]).optional(),
  text: z.string().refine((t) => t.trim().length > 0, 'text must not be empty'),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/**
 * Reads .txt, .md and .jsonl documents from files and folders (recursively, hidden entries
 * skipped). A document's id is its path relative to the folder given (a file given directly:
 * its name); a JSONL line's id is its `id`, else `path:line`. Unreadable, empty or malformed
 * inputs are reported through `onSkip` and skipped; the rest goes on.
 */
export async function* readDocuments(
  paths: string[],
  onSkip: (skipped: SkippedInput) => void,
): AsyncGenerator<SourceDocument> {
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      onSkip({ where: path, reason: `cannot read: ${(err as Error).message}` });
      continue;
    }
    if (info.isDirectory()) {
      for (const file of await listFiles(path, onSkip)) {
        yield* readFileDocuments(file, toPosix(relative(path, file)), onSkip);
      }
    } else if (!isIngestible(path)) {
      onSkip({
        where: path,
        reason: `unsupported file type (use ${INGESTIBLE_EXTENSIONS.join(', ')})`,
      });
    } else {
      yield* readFileDocuments(path, basename(path), onSkip);
    }
  }
}

async function* readFileDocuments(
  file: string,
  id: string,
  onSkip: (skipped: SkippedInput) => void,
): AsyncGenerator<SourceDocument> {
  if (extname(file).toLowerCase() === '.jsonl') {
    yield* readJsonl(file, id, onSkip);
    return;
  }
  let text: string;
  try {
    text = stripBom(await readFile(file, 'utf8'));
  } catch (err) {
    onSkip({ where: file, reason: `cannot read: ${(err as Error).message}` });
    return;
  }
  if (text.trim() === '') {
    onSkip({ where: file, reason: 'empty file' });
    return;
  }
  yield { id, text, metadata: { source: id } };
}

async function* readJsonl(
  file: string,
  id: string,
  onSkip: (skipped: SkippedInput) => void,
): AsyncGenerator<SourceDocument> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  let yielded = 0;
  try {
    for await (const raw of lines) {
      lineNo += 1;
      const line = lineNo === 1 ? stripBom(raw) : raw;
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (err) {
        onSkip({ where: `${file}:${lineNo}`, reason: `not JSON: ${(err as Error).message}` });
        continue;
      }
      const parsed = jsonlLineSchema.safeParse(json);
      if (!parsed.success) {
        onSkip({ where: `${file}:${lineNo}`, reason: formatIssues(parsed.error) });
        continue;
      }
      const metadata = Object.fromEntries(
        Object.entries(parsed.data.metadata ?? {}).map(([k, v]) => [k, String(v)]),
      );
      yielded += 1;
      yield {
        id: parsed.data.id === undefined ? `${id}:${lineNo}` : String(parsed.data.id),
        text: parsed.data.text,
        metadata: { source: id, ...metadata },
      };
    }
  } catch (err) {
    onSkip({ where: file, reason: `cannot read: ${(err as Error).message}` });
    return;
  }
  if (yielded === 0) onSkip({ where: file, reason: 'no documents in file' });
}

async function listFiles(dir: string, onSkip: (skipped: SkippedInput) => void): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    onSkip({ where: dir, reason: `cannot read: ${(err as Error).message}` });
    return [];
  }
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full, onSkip)));
    else if (entry.isFile() && isIngestible(full)) files.push(full);
  }
  return files;
}

function isIngestible(path: string): boolean {
  return (INGESTIBLE_EXTENSIONS as readonly string[]).includes(extname(path).toLowerCase());
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}
