import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { answerJobDataSchema } from '../../src/shared/contracts.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));
const CORPUS = `${EXAMPLES}corpus/`;

const questionSchema = z.strictObject({
  id: z.string().regex(/^q-/),
  question: z.string().min(1),
  expected: z.string().min(1),
  expectedSources: z.array(z.string().min(1)).min(1),
});
const faqLineSchema = z.strictObject({
  id: z.string().regex(/^faq-/),
  text: z.string().min(1),
  metadata: z.object({ lang: z.enum(['en', 'zh']) }),
});

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
const questions = lines(`${EXAMPLES}questions.jsonl`).map((l) =>
  questionSchema.parse(JSON.parse(l)),
);
const faq = lines(`${CORPUS}faq.jsonl`).map((l) => faqLineSchema.parse(JSON.parse(l)));
const files = readdirSync(CORPUS);

/** The text of a document id: a FAQ line's id, else a path relative to examples/corpus. */
function documentText(id: string): string | undefined {
  const line = faq.find((f) => f.id === id);
  if (line) return line.text;
  return files.includes(id) ? readFileSync(`${CORPUS}${id}`, 'utf8') : undefined;
}

/** RFC 4180 quoting: a field with a comma, quote or line break is quoted, quotes doubled. */
const csvField = (value: string) =>
  /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

const CJK = /[\u4e00-\u9fff]/;

describe('examples/', () => {
  it('has 10 to 14 questions with unique ids, half of them Chinese', () => {
    expect(questions.length).toBeGreaterThanOrEqual(10);
    expect(questions.length).toBeLessThanOrEqual(14);
    expect(new Set(questions.map((q) => q.id)).size).toBe(questions.length);
    const chinese = questions.filter((q) => CJK.test(q.question)).length;
    expect(chinese).toBe(questions.length / 2);
    expect(questions.map((q) => q.question)).toContain('什么是 LCEL？');
  });

  it('asks only questions the job contract accepts', () => {
    for (const q of questions) {
      expect(answerJobDataSchema.safeParse({ question: q.question }).success).toBe(true);
    }
  });

  it.each(questions.map((q) => [q.id, q] as const))(
    '%s: its expected answer appears in an expected source',
    (_id, q) => {
      const texts = q.expectedSources.map(documentText);
      expect(texts.every((t) => t !== undefined)).toBe(true);
      expect(texts.some((t) => t?.includes(q.expected))).toBe(true);
    },
  );

  it('keeps questions.csv in step with questions.jsonl, correctly quoted', () => {
    const expected = [
      'id,question,expected,expectedSources',
      ...questions.map((q) =>
        [q.id, q.question, q.expected, q.expectedSources.join(';')].map(csvField).join(','),
      ),
    ].join('\n');
    expect(readFileSync(`${EXAMPLES}questions.csv`, 'utf8')).toBe(`${expected}\n`);
  });

  it('has a small bilingual corpus of focused documents', () => {
    const documents = files.filter((f) => /\.(md|txt)$/.test(f));
    expect(files.length).toBeGreaterThanOrEqual(10);
    expect(files.length).toBeLessThanOrEqual(14);
    expect(files).toContain('faq.jsonl');
    for (const file of files) expect(statSync(`${CORPUS}${file}`).size).toBeLessThan(3 * 1024);
    const chinese = documents.filter((f) => CJK.test(readFileSync(`${CORPUS}${f}`, 'utf8')));
    expect(chinese.length).toBeGreaterThanOrEqual(3);
    expect(documents.length - chinese.length).toBeGreaterThanOrEqual(3);
    expect(new Set(faq.map((f) => f.metadata.lang))).toEqual(new Set(['en', 'zh']));
  });

  it('answers 什么是 LCEL？ in the Chinese LCEL document', () => {
    expect(documentText('lcel.zh.md')).toMatch(
      /LCEL（LangChain 表达式语言，LangChain Expression Language）是一种声明式地把提示词、模型和解析器组合成链的方式/,
    );
  });
});
