import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readCases, type ReadItem } from '../../../src/producer/eval/read-cases.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-read-cases-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function read(name: string, content: string): Promise<ReadItem[]> {
  const path = join(dir, name);
  await writeFile(path, content);
  const items: ReadItem[] = [];
  for await (const item of readCases(path)) items.push(item);
  return items;
}

const cases = (items: ReadItem[]) => items.flatMap((i) => ('case' in i ? [i.case] : []));
const invalid = (items: ReadItem[]) => items.flatMap((i) => ('invalid' in i ? [i.invalid] : []));

describe('readCases: JSONL', () => {
  it('reads BOM, CRLF, emoji, skips blank lines and reports bad rows with line and id', async () => {
    const items = await read(
      'awkward.jsonl',
      '\uFEFF{"id":"a","question":"What is 🚀?","expected":["x","y"]}\r\n' +
        '\r\n' +
        '   \n' +
        '{"id":"b","question":"   "}\n' +
        '{not json\n' +
        `{"id":"c","question":"${'q'.repeat(8001)}"}\n` +
        '{"question":"熔断器有哪三种状态？","expectedSources":["circuit-breaker.zh.md"],"metadata":{"lang":"zh","n":3}}\n' +
        '[1,2]\n',
    );
    expect(cases(items).map((c) => [c.id, c.where, c.question])).toEqual([
      ['a', 'line 1', 'What is 🚀?'],
      [expect.stringMatching(/^c-[0-9a-f]{12}$/), 'line 7', '熔断器有哪三种状态？'],
    ]);
    expect(cases(items)[1]!.metadata).toEqual({ lang: 'zh', n: '3' });
    expect(invalid(items).map((r) => [r.where, r.id, r.reason])).toEqual([
      ['line 4', 'b', 'question: question must not be empty'],
      ['line 5', undefined, expect.stringMatching(/^unparseable JSON/)],
      ['line 6', 'c', 'question: question must be at most 8000 characters'],
      ['line 8', undefined, 'not a JSON object'],
    ]);
  });

  it('derives the same ids on a re-read, numbers repeated rows and rejects repeated explicit ids', async () => {
    const text =
      '{"question":"same"}\n{"question":"same"}\n{"id":"x","question":"q1"}\n{"id":"x","question":"q2"}\n';
    const first = await read('ids.jsonl', text);
    const second = await read('ids2.jsonl', text);
    expect(cases(first).map((c) => c.id)).toEqual(cases(second).map((c) => c.id));
    const [one, two] = cases(first);
    expect(two!.id).toBe(`${one!.id}-2`);
    expect(invalid(first)).toEqual([
      { where: 'line 4', line: 4, id: 'x', reason: 'duplicate id x' },
    ]);
  });

  it('validates assertions: bad regex, judge without rubric', async () => {
    const items = await read(
      'assert.jsonl',
      '{"id":"r","question":"q","assert":[{"type":"regex","value":"("}]}\n' +
        '{"id":"j","question":"q","assert":[{"type":"judge"}]}\n' +
        '{"id":"ok","question":"q","assert":[{"type":"f1","value":"a b","threshold":0.4}]}\n',
    );
    expect(invalid(items).map((r) => r.id)).toEqual(['r', 'j']);
    expect(invalid(items)[1]!.reason).toBe('judge: rubric is required');
    expect(cases(items)[0]!.assert).toEqual([{ type: 'f1', value: 'a b', threshold: 0.4 }]);
  });
});

describe('readCases: CSV', () => {
  it('reads BOM, CRLF, quoted commas and newlines, and skips blank rows', async () => {
    const items = await read(
      'awkward.csv',
      '\uFEFFid,question,expected,expectedSources\r\n' +
        'a,"Hello, world?","line one\r\nline two",a.md|b.md\r\n' +
        '\r\n' +
        ',,,\r\n' +
        'b,"Emoji 😀 ""quoted""",,["c.md"]\r\n' +
        'c,,nothing asked,\r\n',
    );
    expect(cases(items)).toEqual([
      {
        id: 'a',
        where: 'line 2',
        question: 'Hello, world?',
        expected: 'line one\r\nline two',
        expectedSources: ['a.md', 'b.md'],
      },
      { id: 'b', where: 'line 6', question: 'Emoji 😀 "quoted"', expectedSources: ['c.md'] },
    ]);
    expect(invalid(items)).toEqual([
      { where: 'line 7', line: 7, id: 'c', reason: 'question: question must not be empty' },
    ]);
  });

  it('reads promptfoo test files: __expected prefixes, __description, vars as metadata', async () => {
    const items = await read(
      'promptfoo.csv',
      'question,topic,__expected,__expected2,__description\n' +
        'What is LCEL?,langchain,contains: RunnableSequence,llm-rubric: explains piping,pipe\n' +
        'Capital of France?,geo,Paris,similar(0.9): Paris is the capital,\n' +
        'Run code?,x,javascript: output.length > 3,,\n',
    );
    const [lcel, paris] = cases(items);
    expect(lcel).toMatchObject({
      question: 'What is LCEL?',
      metadata: { topic: 'langchain', description: 'pipe' },
      assert: [
        { type: 'contains', value: 'RunnableSequence' },
        { type: 'judge', rubric: 'explains piping' },
      ],
    });
    expect(lcel!.expected).toBeUndefined();
    expect(paris).toMatchObject({
      expected: 'Paris',
      assert: [{ type: 'similarity', value: 'Paris is the capital', threshold: 0.9 }],
    });
    expect(invalid(items)).toEqual([
      {
        where: 'line 4',
        line: 4,
        reason: '__expected: unsupported promptfoo assertion "javascript"',
      },
    ]);
  });

  it('reports an unterminated quote as an invalid row and keeps the rows before it', async () => {
    const items = await read('bad.csv', 'id,question\na,ok\nb,"unterminated\n');
    expect(cases(items).map((c) => c.id)).toEqual(['a']);
    expect(invalid(items)).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(/^unparseable CSV: .*quote/i) }),
    ]);
  });
});

describe('readCases: JSON arrays', () => {
  it('streams the items of a top-level array', async () => {
    const items = await read(
      'cases.json',
      '\uFEFF[{"id":"a","question":"one"},\n 42,\n {"question":"two","expected":"2"}]',
    );
    expect(cases(items).map((c) => [c.id, c.where])).toEqual([
      ['a', 'item 1'],
      [expect.stringMatching(/^c-/), 'item 3'],
    ]);
    expect(invalid(items)).toEqual([{ where: 'item 2', reason: 'not a JSON object' }]);
  });

  it('reports a syntax error after the items it could read', async () => {
    const items = await read('broken.json', '[{"question":"one"}, {"question": ');
    expect(cases(items)).toHaveLength(1);
    expect(invalid(items)[0]!.reason).toMatch(/^unparseable JSON/);
  });

  it('rejects unknown file types', async () => {
    await expect(read('cases.txt', 'x')).rejects.toThrow(/unknown question file type/);
  });
});
