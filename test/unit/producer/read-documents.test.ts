import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  readDocuments,
  type SkippedInput,
  type SourceDocument,
} from '../../../src/producer/read-documents.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-read-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(paths: string[]) {
  const docs: SourceDocument[] = [];
  const skipped: SkippedInput[] = [];
  for await (const d of readDocuments(paths, (s) => skipped.push(s))) docs.push(d);
  return { docs, skipped };
}

describe('readDocuments', () => {
  it('reads folders recursively with ids relative to the folder, JSONL ids from lines', async () => {
    await mkdir(join(dir, 'guide'));
    await writeFile(join(dir, 'a.md'), '\uFEFF# Title\nBody');
    await writeFile(join(dir, 'guide', 'b.txt'), '中文文本');
    await writeFile(
      join(dir, 'faq.jsonl'),
      '{"id":"faq-1","text":"one","metadata":{"lang":"en","n":2}}\n\n{"text":"two"}\n',
    );
    await writeFile(join(dir, 'image.png'), 'not text');
    await writeFile(join(dir, '.hidden.md'), 'secret');
    const { docs, skipped } = await read([dir]);
    expect(docs.map((d) => d.id)).toEqual(['a.md', 'faq-1', 'faq.jsonl:3', 'guide/b.txt']);
    expect(docs[0]!.text).toBe('# Title\nBody');
    expect(docs[1]!.metadata).toEqual({ source: 'faq.jsonl', lang: 'en', n: '2' });
    expect(skipped).toEqual([]);
  });

  it('reports empty, unreadable, missing and malformed inputs by name and goes on', async () => {
    await writeFile(join(dir, 'empty.md'), '  \n');
    await writeFile(join(dir, 'ok.txt'), 'fine');
    await writeFile(join(dir, 'bad.jsonl'), '{"text":"good"}\nnot json\n{"id":"x"}\n{"text":""}\n');
    await writeFile(join(dir, 'notes.pdf'), '%PDF');
    const { docs, skipped } = await read([
      join(dir, 'empty.md'),
      join(dir, 'ok.txt'),
      join(dir, 'bad.jsonl'),
      join(dir, 'missing.md'),
      join(dir, 'notes.pdf'),
    ]);
    expect(docs.map((d) => d.id)).toEqual(['ok.txt', 'bad.jsonl:1']);
    const where = skipped.map((s) => s.where.replace(dir, ''));
    expect(where).toEqual([
      '/empty.md',
      '/bad.jsonl:2',
      '/bad.jsonl:3',
      '/bad.jsonl:4',
      '/missing.md',
      '/notes.pdf',
    ]);
    expect(skipped[1]!.reason).toMatch(/not JSON/);
    expect(skipped[2]!.reason).toMatch(/text/);
    expect(skipped[4]!.reason).toMatch(/cannot read/);
    expect(skipped[5]!.reason).toMatch(/unsupported file type/);
  });
});
