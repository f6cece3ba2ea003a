import { z } from 'zod';

/** USD per million tokens of one model. */
export interface ModelPrice {
  input: number;
  output: number;
  /**
   * Through the Batch API (`askq eval run --batch`).
   * @defaultValue half of `input` and `output`, OpenAI's batch discount
   */
  batch?: { input: number; output: number };
}

/** Which API answered: chat completions, or the Batch API at its own prices. */
export type PriceLane = 'online' | 'batch';

/** What the Batch API costs compared with online calls when a model has no batch column. */
export const BATCH_DISCOUNT = 0.5;

/** Model name → price. */
export type PriceTable = Record<string, ModelPrice>;

/**
 * List prices (USD per million tokens) of common OpenAI chat models, online and through the Batch
 * API, as published when this was written; `ASKQ_EVAL_PRICES` overrides or extends them. Local models cost nothing.
 */
export const DEFAULT_PRICES = {
  'gpt-4o-mini': { input: 0.15, output: 0.6, batch: { input: 0.075, output: 0.3 } },
  'gpt-4o': { input: 2.5, output: 10, batch: { input: 1.25, output: 5 } },
  'gpt-4.1': { input: 2, output: 8, batch: { input: 1, output: 4 } },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, batch: { input: 0.2, output: 0.8 } },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, batch: { input: 0.05, output: 0.2 } },
  'gpt-5': { input: 1.25, output: 10, batch: { input: 0.625, output: 5 } },
  'gpt-5-mini': { input: 0.25, output: 2, batch: { input: 0.125, output: 1 } },
  'gpt-5-nano': { input: 0.05, output: 0.4, batch: { input: 0.025, output: 0.2 } },
} as const satisfies PriceTable;

const price = z.strictObject({
  input: z.number().min(0),
  output: z.number().min(0),
  batch: z.strictObject({ input: z.number().min(0), output: z.number().min(0) }).optional(),
});

/**
 * `ASKQ_EVAL_PRICES`: a JSON object `{ "<model>": { "input": usd, "output": usd, "batch"?: { "input": usd, "output": usd } } }`
 * per million tokens.
 */
export const priceTableSchema = z
  .string()
  .optional()
  .transform((text, ctx): PriceTable => {
    if (text === undefined || text.trim() === '') return {};
    try {
      const parsed = z.record(z.string().min(1), price).safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
      ctx.addIssue({
        code: 'custom',
        message: `must map model names to { input, output, batch? } USD per million tokens: ${parsed.error.issues[0]?.message ?? ''}`,
      });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object' });
    }
    return z.NEVER;
  });

/**
 * Estimated cost of a call in USD, or undefined when the model has no price. Models known by
 * their base name match with a dated or provider suffix (`gpt-4o-mini-2024-07-18`). A `batch`
 * call costs the model's batch column.
 */
export function estimateCost(
  table: PriceTable,
  model: string,
  usage: { inputTokens: number; outputTokens: number },
  lane: PriceLane = 'online',
): number | undefined {
  const p = priceOf(table, model);
  if (!p) return undefined;
  const rate =
    lane === 'batch'
      ? (p.batch ?? { input: p.input * BATCH_DISCOUNT, output: p.output * BATCH_DISCOUNT })
      : p;
  return (usage.inputTokens * rate.input + usage.outputTokens * rate.output) / 1_000_000;
}

/** The price of a model: exact name first, then the longest name it starts with. */
export function priceOf(table: PriceTable, model: string): ModelPrice | undefined {
  if (model.startsWith('local') || model.startsWith('extractive')) return { input: 0, output: 0 };
  if (table[model]) return table[model];
  const base = Object.keys(table)
    .filter((name) => model.startsWith(`${name}-`))
    .sort((a, b) => b.length - a.length)[0];
  return base === undefined ? undefined : table[base];
}
