import { type AnswerVariant, answerVariantSchema, formatIssues } from '../../shared/contracts.ts';
import { ValidationError } from '../../shared/errors.ts';
import type { EvalCase } from './read-cases.ts';

/** A named variant of a run: settings every case runs with, side by side with the others. */
export interface NamedVariant {
  name: string;
  settings: AnswerVariant;
}

const NAME = /^[A-Za-z0-9][\w.-]{0,39}$/;

/**
 * Parses `name:json`, e.g. `k1:{"topK":1}` (as `--variant` takes it), and adds it to the
 * variants before it; throws {@link ValidationError} for a bad name, JSON or key, or a repeated name.
 */
export function addVariant(value: string, previous: NamedVariant[] = []): NamedVariant[] {
  const at = value.indexOf(':');
  const name = at < 0 ? value : value.slice(0, at);
  if (!NAME.test(name)) {
    throw new ValidationError(
      'must be name:json with a name of letters, digits, ".", "_" or "-" (e.g. k4:\'{"topK":4}\').',
    );
  }
  if (previous.some((v) => v.name === name)) {
    throw new ValidationError(`variant "${name}" is given twice.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(at < 0 ? '{}' : value.slice(at + 1));
  } catch (err) {
    throw new ValidationError(`variant "${name}": not JSON (${(err as Error).message}).`);
  }
  const parsed = answerVariantSchema.safeParse(json);
  if (!parsed.success) {
    throw new ValidationError(`variant "${name}": ${formatIssues(parsed.error)}.`);
  }
  return [...previous, { name, settings: parsed.data }];
}

/**
 * The runs of one case: once per variant and repeat. Without variants or repeats it is the
 * case itself (ids unchanged, so older runs compare case by case); otherwise each run's id is
 * `<case id>@<variant>` and, with repeats, `#<n>`.
 */
export function expandCase(
  c: EvalCase,
  variants: readonly NamedVariant[],
  repeat: number,
): EvalCase[] {
  if (variants.length === 0 && repeat <= 1) return [c];
  const list = variants.length > 0 ? variants : [undefined];
  const runs: EvalCase[] = [];
  for (const v of list) {
    for (let n = 1; n <= repeat; n += 1) {
      const id = `${c.id}${v ? `@${v.name}` : ''}${repeat > 1 ? `#${n}` : ''}`;
      runs.push({
        ...c,
        id,
        caseId: c.id,
        ...(v ? { variant: v } : {}),
        ...(repeat > 1 ? { repeat: n } : {}),
      });
    }
  }
  return runs;
}
