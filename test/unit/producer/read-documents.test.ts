import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { DocumentParser } from '../../../src/producer/documents/document-parser.ts';
import {
  readDocuments,
  type SkippedInput,
  type SourceDocument,
} from '../../../src/producer/read-documents.ts';

let dir: string;
const parser = new DocumentParser();
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-read-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterAll(() => parser.close());

async function read(paths: string[], maxFileBytes = 1024 * 1024) {
  const docs: SourceDocument[] = [];
  const skipped: SkippedInput[] = [];
  const onSkip = (s: SkippedInput) => skipped.push(s);
  for await (const file of readDocuments(paths, { parser, maxFileBytes, onSkip })) {
    docs.push(...file.documents);
  }
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
    expect(docs[0]!.parts).toEqual([{ text: '# Title\nBody', section: 'Title' }]);
    expect(docs[1]!.metadata).toEqual({ source: 'faq.jsonl', lang: 'en', n: '2' });
    expect(skipped).toEqual([]);
  });

  it('reports empty, unreadable, missing and malformed inputs by name and goes on', async () => {
    await writeFile(join(dir, 'empty.md'), '  \n');
    await writeFile(join(dir, 'ok.txt'), 'fine');
    await writeFile(join(dir, 'bad.jsonl'), '{"text":"good"}\nnot json\n{"id":"x"}\n{"text":""}\n');
    await writeFile(join(dir, 'notes.png'), 'an image');
    const { docs, skipped } = await read([
      join(dir, 'empty.md'),
      join(dir, 'ok.txt'),
      join(dir, 'bad.jsonl'),
      join(dir, 'missing.md'),
      join(dir, 'notes.png'),
    ]);
    expect(docs.map((d) => d.id)).toEqual(['ok.txt', 'bad.jsonl:1']);
    const where = skipped.map((s) => s.where.replace(dir, ''));
    expect(where).toEqual([
      '/empty.md',
      '/bad.jsonl:2',
      '/bad.jsonl:3',
      '/bad.jsonl:4',
      '/missing.md',
      '/notes.png',
    ]);
    expect(skipped[1]!.reason).toMatch(/not JSON/);
    expect(skipped[2]!.reason).toMatch(/text/);
    expect(skipped[4]!.reason).toMatch(/cannot read/);
    expect(skipped[5]!.reason).toMatch(/unsupported file type/);
  });

  it('splits Markdown at headings outside code fences, text before the first one has no section', async () => {
    await writeFile(
      join(dir, 'guide.md'),
      'Intro line.\n\n## Install\nRun it.\n```\n# not a heading\n```\n### Reset ###\nHold it.',
    );
    const { docs } = await read([join(dir, 'guide.md')]);
    expect(docs[0]!.parts).toEqual([
      { text: 'Intro line.' },
      { text: '## Install\nRun it.\n```\n# not a heading\n```', section: 'Install' },
      { text: '### Reset ###\nHold it.', section: 'Reset' },
    ]);
  });

  it('reports a file whose content is not what its extension says, and one over the size limit', async () => {
    await writeFile(join(dir, 'manual.pdf'), 'plain text pretending to be a PDF');
    await writeFile(join(dir, 'letter.docx'), '%PDF-1.7 a PDF named .docx');
    await writeFile(join(dir, 'page.html'), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0]));
    await writeFile(join(dir, 'big.txt'), 'x'.repeat(2000));
    const { docs, skipped } = await read([dir], 1000);
    expect(docs).toEqual([]);
    expect(skipped.map((s) => [s.where.replace(dir, ''), s.reason])).toEqual([
      ['/big.txt', 'file is 2000 bytes, over the limit of 1000 (ASKQ_INGEST_MAX_FILE_BYTES)'],
      [
        '/letter.docx',
        'content does not match the .docx extension: not a DOCX (not a ZIP archive)',
      ],
      ['/manual.pdf', 'content does not match the .pdf extension: not a PDF (no %PDF- header)'],
      ['/page.html', 'content does not match the .html extension: a ZIP archive, not text'],
    ]);
  });
});
