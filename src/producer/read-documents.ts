import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, sep } from 'node:path';

import { formatOf, INGESTIBLE_EXTENSIONS } from './documents/detect-format.ts';
import {
  type ReadFileOptions,
  readSourceFile,
  type SkippedInput,
  type SourceFile,
} from './documents/read-source-file.ts';

export { INGESTIBLE_EXTENSIONS } from './documents/detect-format.ts';
export type { SkippedInput, SourceDocument, SourceFile } from './documents/read-source-file.ts';

/** A file found in a folder: where it is and its id (path relative to the folder). */
export interface ListedFile {
  path: string;
  id: string;
}

/**
 * Reads files and folders (recursively, hidden entries skipped) of the formats askq knows. A
 * document's id is its path relative to the folder given (a file given directly: its name); a
 * JSONL line's id is its `id`, else `path:line`. Unreadable, empty, oversized, mismatched or
 * unparseable inputs are reported through `onSkip` and skipped; the rest goes on.
 */
export async function* readDocuments(
  paths: string[],
  options: Omit<ReadFileOptions, 'isChanged'>,
): AsyncGenerator<SourceFile> {
  for (const path of paths) {
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      options.onSkip({ where: path, reason: `cannot read: ${(err as Error).message}` });
      continue;
    }
    const files = info.isDirectory()
      ? await listFiles(path, options.onSkip)
      : [{ path, id: basename(path) }];
    for (const file of files) {
      const format = formatOf(file.path);
      if (!format) {
        options.onSkip({
          where: file.path,
          reason: `unsupported file type (use ${INGESTIBLE_EXTENSIONS.join(', ')})`,
        });
        continue;
      }
      const read = await readSourceFile(file.path, file.id, format, options);
      if (read) yield read;
    }
  }
}

/** The files of the formats askq reads under `dir`, sorted, hidden entries skipped. */
export async function listFiles(
  dir: string,
  onSkip: (skipped: SkippedInput) => void,
  root = dir,
): Promise<ListedFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    onSkip({ where: dir, reason: `cannot read: ${(err as Error).message}` });
    return [];
  }
  const files: ListedFile[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await listFiles(full, onSkip, root)));
    else if (entry.isFile() && formatOf(full))
      files.push({ path: full, id: toPosix(relative(root, full)) });
  }
  return files;
}

function toPosix(path: string): string {
  return path.split(sep).join('/');
}
