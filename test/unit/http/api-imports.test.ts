import { readFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Every project file a module imports, transitively (static and dynamic relative imports). */
async function importGraph(entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = await readFile(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)].map((m) => m[1]!);
    for (const s of specifiers) await visit(resolve(dirname(file), s));
  };
  await visit(resolve(ROOT, entry));
  return new Set([...seen].map((f) => relative(ROOT, f)));
}

describe('the API process loads no worker code', () => {
  it.each(['src/cli/run-serve.ts', 'src/producer/askq-http-client.ts'])('%s', async (entry) => {
    const files = await importGraph(entry);
    expect(files.size).toBeGreaterThan(3);
    expect([...files].filter((f) => f.startsWith('src/worker/'))).toEqual([]);
    if (entry.endsWith('run-serve.ts')) {
      expect(files).toContain('src/producer/http/create-api-server.ts');
    }
  });
});
