import type { AnswerResult } from '../../src/shared/contracts.ts';
import type { Redis } from '../../src/shared/redis.ts';

/** Who decides a job hash field's bytes. */
export type FieldOwner = 'askq result' | 'askq input' | 'BullMQ';

/** One field of a retained job's hash, as Redis holds it. */
export interface JobField {
  name: string;
  valueBytes: number;
  owner: FieldOwner;
}

/** What one retained completed job costs in Redis, itemized by field and by cause. */
export interface JobFootprint {
  fields: JobField[];
  encoding: string;
  /** MEMORY USAGE of the job hash (SAMPLES 0): key, entry in the keyspace, fields, overhead. */
  hashBytes: number;
  /** Field names and values, bytes as stored. */
  namesAndValues: number;
  /** The answer and the sources' text, as JSON strings inside the result. */
  answerBytes: number;
  sourceTextBytes: number;
  sources: number;
  /** The result's other bytes: keys, ids, scores, usage, timings, punctuation. */
  restOfResultBytes: number;
  /** Field names (all of them: BullMQ names every field) and the values BullMQ writes. */
  bullmqBytes: number;
  /** The job's input (`data`). */
  inputBytes: number;
  /** The same fields in a listpack (`hash-max-listpack-value` above the largest), if measurable. */
  asListpackBytes: number | undefined;
}

const RESULT_FIELD = 'returnvalue';
const INPUT_FIELD = 'data';

/**
 * Reads one completed job's hash field by field and measures what the same fields would cost
 * encoded as a listpack: a copy under a key of the same length, with `hash-max-listpack-value`
 * raised above the largest value for the copy only (restored afterwards). Only on a private
 * server: it changes the server's configuration for a moment.
 */
export async function jobFootprint(
  admin: Redis,
  jobKey: string,
  result: AnswerResult,
): Promise<JobFootprint> {
  const raw = await admin.hgetall(jobKey);
  const fields: JobField[] = Object.entries(raw).map(([name, value]) => ({
    name,
    valueBytes: Buffer.byteLength(value),
    owner: name === RESULT_FIELD ? 'askq result' : name === INPUT_FIELD ? 'askq input' : 'BullMQ',
  }));
  const hashBytes = Number(await admin.memory('USAGE', jobKey, 'SAMPLES', '0'));
  const encoding = String(await admin.object('ENCODING', jobKey));
  const namesAndValues = fields.reduce((n, f) => n + Buffer.byteLength(f.name) + f.valueBytes, 0);
  const answerBytes = Buffer.byteLength(JSON.stringify(result.answer));
  const sourceTextBytes = result.sources.reduce(
    (n, s) => n + Buffer.byteLength(JSON.stringify(s.text)),
    0,
  );
  const resultBytes = fields.find((f) => f.name === RESULT_FIELD)?.valueBytes ?? 0;
  const inputBytes = fields.find((f) => f.name === INPUT_FIELD)?.valueBytes ?? 0;
  return {
    fields,
    encoding,
    hashBytes,
    namesAndValues,
    answerBytes,
    sourceTextBytes,
    sources: result.sources.length,
    restOfResultBytes: resultBytes - answerBytes - sourceTextBytes,
    bullmqBytes: namesAndValues - resultBytes - inputBytes,
    inputBytes,
    asListpackBytes: await asListpack(admin, jobKey, raw),
  };
}

async function asListpack(
  admin: Redis,
  jobKey: string,
  raw: Record<string, string>,
): Promise<number | undefined> {
  const probe = `${jobKey.slice(0, jobKey.lastIndexOf(':') + 1)}${'~'.repeat(
    jobKey.length - jobKey.lastIndexOf(':') - 1,
  )}`;
  const largest = Math.max(...Object.values(raw).map((v) => Buffer.byteLength(v)));
  let previous: string | undefined;
  try {
    previous = ((await admin.config('GET', 'hash-max-listpack-value')) as string[])[1];
    await admin.config('SET', 'hash-max-listpack-value', String(largest + 1));
    await admin.hset(probe, raw);
    if ((await admin.object('ENCODING', probe)) !== 'listpack') return undefined;
    return Number(await admin.memory('USAGE', probe, 'SAMPLES', '0'));
  } catch {
    return undefined; // a server that refuses CONFIG: the figure is left out
  } finally {
    await admin.del(probe).catch(() => {});
    if (previous !== undefined) {
      await admin.config('SET', 'hash-max-listpack-value', previous).catch(() => {});
    }
  }
}

/** The hash's fields as a Markdown table, largest first. */
export function fieldTable(footprint: JobFootprint, fmt: (n: number) => string): string {
  return [
    '| job hash field | name (B) | value (B) | whose bytes |',
    '| --- | --- | --- | --- |',
    ...[...footprint.fields]
      .sort((a, b) => b.valueBytes - a.valueBytes)
      .map(
        (f) =>
          `| \`${f.name}\` | ${fmt(Buffer.byteLength(f.name))} | ${fmt(f.valueBytes)} | ${f.owner} |`,
      ),
    `| (all ${footprint.fields.length} fields) | | ${fmt(footprint.namesAndValues)} names and values | MEMORY USAGE ${fmt(footprint.hashBytes)} B, encoding ${footprint.encoding} |`,
  ].join('\n');
}
