import { z } from 'zod';

import { formatIssues } from '../../shared/contracts.ts';

/** One document of a JSONL file, before it gets its id. */
export interface JsonlRecord {
  line: number;
  id?: string;
  text: string;
  metadata: Record<string, string>;
}

const lineSchema = z.object({
  id: z.union([z.string().min(1).max(512), z.number()]).optional(),
  text: z.string().refine((t) => t.trim().length > 0, 'text must not be empty'),
  metadata: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
});

/**
 * The documents of a JSONL file, one a line (`{"id"?, "text", "metadata"?}`); blank lines are
 * ignored and a malformed line is reported through `onBadLine` by its number.
 */
export function parseJsonl(
  text: string,
  onBadLine: (line: number, reason: string) => void,
): JsonlRecord[] {
  const records: JsonlRecord[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    if (raw.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch (err) {
      onBadLine(line, `not JSON: ${(err as Error).message}`);
      return;
    }
    const parsed = lineSchema.safeParse(json);
    if (!parsed.success) {
      onBadLine(line, formatIssues(parsed.error));
      return;
    }
    const metadata = Object.fromEntries(
      Object.entries(parsed.data.metadata ?? {}).map(([k, v]) => [k, String(v)]),
    );
    records.push({
      line,
      ...(parsed.data.id === undefined ? {} : { id: String(parsed.data.id) }),
      text: parsed.data.text,
      metadata,
    });
  });
  return records;
}
