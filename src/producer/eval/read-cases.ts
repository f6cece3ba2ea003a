import { createHash } from 'node:crypto';

import { z } from 'zod';

import { type AnswerVariant, formatIssues, MAX_QUESTION_CHARS } from '../../shared/contracts.ts';
import { ValidationError } from '../../shared/errors.ts';
import {
  type Assertion,
  assertionProblems,
  assertionSchema,
} from '../../shared/scoring/assertions.ts';
import { formatOf, type QuestionFileFormat, readRawRows } from './read-raw-rows.ts';

/** One question of an evaluation, validated. */
export interface EvalCase {
  /** The row's `id`, else a stable hash of its content. */
  id: string;
  /** Where in the file: `line 12` or `item 12`. */
  where: string;
  question: string;
  expected?: string | string[];
  expectedSources?: string[];
  metadata?: Record<string, string>;
  assert?: Assertion[];
  /** For a run of the case in a variant or repeat (src/producer/eval/variants.ts): the file's id. */
  caseId?: string;
  variant?: { name: string; settings: AnswerVariant };
  repeat?: number;
}

/** A row left out of the run, and why. */
export interface InvalidCase {
  where: string;
  line?: number;
  id?: string;
  reason: string;
}

export type ReadItem = { case: EvalCase } | { invalid: InvalidCase };

const caseSchema = z.object({
  id: z.union([z.string().trim().min(1).max(256), z.number()]).optional(),
  question: z
    .string({ error: (i) => (i.input === undefined ? 'question is required' : 'must be a string') })
    .regex(/\S/, 'question must not be empty')
    .max(MAX_QUESTION_CHARS, `question must be at most ${MAX_QUESTION_CHARS} characters`),
  expected: z.union([z.string(), z.array(z.string())]).optional(),
  expectedSources: z.array(z.string().min(1)).optional(),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  assert: z.array(assertionSchema).max(20).optional(),
});

/** Columns of a CSV row that are not metadata. */
const CSV_FIELDS = new Set(['id', 'question', 'expected', 'expectedSources', '__description']);

/**
 * Streams the valid cases and the invalid rows of a question file (JSONL, CSV, JSON array),
 * in file order. Case ids are the row's `id`, else a hash of question, expectations and
 * metadata, so re-running the same file maps to the same cases; a repeated row gets `-2`, `-3`.
 * CSV also reads promptfoo test files: `__expected` (and `__expected1`…) as expectations
 * (`contains:`, `icontains:`, `equals:`, `regex:`, `similar(0.8):`, `llm-rubric:`,
 * `context-faithfulness:`, `answer-relevance:`, `context-recall:` prefixes map to assertions; plain text is the expected answer), `__description` and other columns as
 * metadata. Throws {@link ValidationError} for a file of unknown type.
 */
export async function* readCases(
  path: string,
  format?: QuestionFileFormat,
): AsyncIterable<ReadItem> {
  const kind = format ?? formatOf(path);
  if (!kind)
    throw new ValidationError(`${path}: unknown question file type (use .jsonl, .csv or .json)`);
  const seen = new Map<string, number>();
  for await (const raw of readRawRows(path, kind)) {
    const at = { where: raw.where, ...(raw.line === undefined ? {} : { line: raw.line }) };
    if ('error' in raw) {
      yield { invalid: { ...at, reason: raw.error } };
      continue;
    }
    const row = kind === 'csv' ? fromCsvRow(raw.row as Record<string, string>) : raw.row;
    const rowId = row.id === undefined || row.id === '' ? undefined : String(row.id);
    if ('error' in row) {
      yield { invalid: { ...at, ...(rowId ? { id: rowId } : {}), reason: String(row.error) } };
      continue;
    }
    const parsed = caseSchema.safeParse(row);
    const problems = parsed.success ? assertionProblems(parsed.data) : [];
    if (!parsed.success || problems.length > 0) {
      const reason = parsed.success ? problems.join('; ') : formatIssues(parsed.error);
      yield { invalid: { ...at, ...(rowId ? { id: rowId } : {}), reason } };
      continue;
    }
    const c = parsed.data;
    const metadata = c.metadata
      ? Object.fromEntries(Object.entries(c.metadata).map(([k, v]) => [k, String(v)]))
      : undefined;
    let id =
      rowId ?? `c-${digest([c.question, c.expected, c.expectedSources, metadata, c.assert])}`;
    const count = (seen.get(id) ?? 0) + 1;
    seen.set(id, count);
    if (count > 1) {
      if (rowId) {
        yield { invalid: { ...at, id, reason: `duplicate id ${id}` } };
        continue;
      }
      id = `${id}-${count}`;
    }
    yield {
      case: {
        id,
        where: raw.where,
        question: c.question,
        ...(c.expected === undefined || c.expected === '' ? {} : { expected: c.expected }),
        ...(c.expectedSources?.length ? { expectedSources: c.expectedSources } : {}),
        ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
        ...(c.assert?.length ? { assert: c.assert } : {}),
      },
    };
  }
}

/** A CSV row as a case: typed columns, promptfoo's `__expected*`, the rest as metadata. */
function fromCsvRow(row: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const metadata: Record<string, string> = {};
  const assert: Assertion[] = [];
  const expected: string[] = [];
  for (const [key, value] of Object.entries(row)) {
    if (key === 'id' && value.trim() !== '') out.id = value.trim();
    else if (key === 'question') out.question = value;
    else if (key === 'expected' && value !== '') expected.push(value);
    else if (key === 'expectedSources' && value.trim() !== '')
      out.expectedSources = splitList(value);
    else if (/^__expected\d*$/.test(key) && value.trim() !== '') {
      const mapped = promptfooExpectation(value.trim());
      if ('error' in mapped) return { ...out, error: `${key}: ${mapped.error}` };
      if ('expected' in mapped) expected.push(mapped.expected);
      else assert.push(mapped.assertion);
    } else if (key === '__description' && value !== '') metadata.description = value;
    else if (!CSV_FIELDS.has(key) && !key.startsWith('__') && value !== '') metadata[key] = value;
  }
  // promptfoo names the question by the prompt's variable; `question` is askq's.
  out.question ??= row.query ?? row.prompt ?? row.input;
  for (const k of ['query', 'prompt', 'input']) if (out.question === row[k]) delete metadata[k];
  if (expected.length > 0) out.expected = expected.length === 1 ? expected[0] : expected;
  if (assert.length > 0) out.assert = assert;
  if (Object.keys(metadata).length > 0) out.metadata = metadata;
  return out;
}

type Expectation = { expected: string } | { assertion: Assertion } | { error: string };

/** One promptfoo `__expected` cell as an expected answer or an assertion. */
function promptfooExpectation(cell: string): Expectation {
  const m = /^([a-z-]+)(?:\((\d*\.?\d+)\))?:\s*([\s\S]*)$/.exec(cell);
  if (!m) return { expected: cell };
  const [, kind, threshold, value] = m as unknown as [string, string, string | undefined, string];
  const t = threshold === undefined ? {} : { threshold: Number(threshold) };
  switch (kind) {
    case 'contains':
    case 'icontains':
      return { assertion: { type: 'contains', value, ...t } };
    case 'equals':
      return { assertion: { type: 'exact', value, ...t } };
    case 'regex':
      return { assertion: { type: 'regex', value, ...t } };
    case 'similar':
      return { assertion: { type: 'similarity', value, ...t } };
    case 'llm-rubric':
    case 'model-graded-closedqa':
      return { assertion: { type: 'judge', rubric: value, ...t } };
    case 'context-faithfulness':
      return { assertion: { type: 'faithfulness', ...t } };
    case 'answer-relevance':
      return { assertion: { type: 'answer-relevancy', ...t } };
    case 'context-recall':
      return { assertion: { type: 'context-recall', ...(value ? { value } : {}), ...t } };
    default:
      // "http://…" or "note: …" in a plain answer is not an assertion.
      return /^(javascript|python|webhook|is-json|contains-json|starts-with|levenshtein|rouge-n|bleu|g-eval|not-[a-z-]+)$/.test(
        kind,
      )
        ? { error: `unsupported promptfoo assertion "${kind}"` }
        : { expected: cell };
  }
}

/** `a.md|b.md`, `a.md;b.md`, `a.md, b.md` or a JSON array. */
function splitList(value: string): string[] {
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (Array.isArray(parsed)) return parsed.map(String);
    } catch {
      // Not JSON after all: split it.
    }
  }
  return text
    .split(/[|;,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

function digest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 12);
}
