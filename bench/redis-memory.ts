/**
 * Redis memory (issue 7): what a retained completed job costs, and whether a long run stays
 * flat once retention is reached.
 *
 * 1. Bytes per retained job: `INFO memory` used_memory with the queue empty, then after N
 *    questions answered (instant in-process ports, a corpus of 800-character chunks, topK 4:
 *    results as large as the default settings make them) with retention above N, divided by
 *    the completed jobs retained.
 * 2. A 100,000-question run through the producer client (AskqClient.askMany, default retention
 *    ASKQ_KEEP_COMPLETED = 10,000) in rounds of 10,000, sampling used_memory and the key count
 *    after each round.
 *
 *   node bench/redis-memory.ts [--retained 2000] [--total 100000] [--round 10000]
 */
import { parseArgs } from 'node:util';

import { AskqClient } from '../src/producer/askq-client.ts';
import type { AnswerResult } from '../src/shared/contracts.ts';
import { DEFAULTS } from '../src/shared/defaults.ts';
import type { Ports } from '../src/shared/ports.ts';
import { createRedisConnection, type Redis } from '../src/shared/redis.ts';
import { startBenchWorker } from './lib/askq.ts';
import { type BenchRedis, benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, type Figure, fmt, runAsScript } from './lib/bench-result.ts';
import { instantPorts, questions } from './lib/instant-ports.ts';
import { fieldTable, type JobFootprint, jobFootprint } from './lib/job-footprint.ts';
import { waitForCompleted } from './lib/wait.ts';

export interface RedisMemoryOptions {
  /** Jobs answered and retained for the per-job figure. @defaultValue 2000 */
  retained?: number;
  /** Questions in the long run. @defaultValue 100000 */
  total?: number;
  /** Questions per round (and per sample) of the long run. @defaultValue 10000 */
  round?: number;
  /** @defaultValue 50 */
  concurrency?: number;
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

interface RetainedCost {
  perJob: number;
  retained: number;
  f: JobFootprint;
  eventsBytes: number;
  eventsLen: number;
  completedBytes: number;
}

/**
 * Answers N questions with retention above N and measures what they left: used_memory after −
 * before ÷ completed jobs retained, and one job itemized. The queue is emptied afterwards.
 */
async function measureRetained(o: {
  url: string;
  admin: Redis;
  ports: Ports;
  concurrency: number;
  retainedN: number;
  env?: Record<string, string>;
}): Promise<RetainedCost> {
  const prefix = `bench-mem-a${o.env ? '-variant' : ''}`;
  const worker = await startBenchWorker({
    env: { REDIS_URL: o.url, ASKQ_PREFIX: prefix, ...o.env },
    ports: o.ports,
    concurrency: o.concurrency,
  });
  const client = new AskqClient({
    redisUrl: o.url,
    prefix,
    // Above N, and the default unless N needs more: a job's options are part of its cost.
    keepCompleted: Math.max(DEFAULTS.keepCompleted, o.retainedN * 2),
    telemetry: false,
  });
  try {
    await client.queue.waitUntilReady();
    const before = await usedMemory(o.admin);
    const done = waitForCompleted(worker.questions, o.retainedN, 120_000);
    await client.askMany(questions(o.retainedN).map((question) => ({ question })));
    await done;
    await worker.close(10_000);
    const after = await usedMemory(o.admin);
    const retained = await client.queue.getCompletedCount();
    const [job] = await client.queue.getCompleted(0, 0);
    const eventsKey = `${prefix}:questions:events`;
    const completedKey = `${prefix}:questions:completed`;
    return {
      perJob: (after - before) / retained,
      retained,
      f: await jobFootprint(
        o.admin,
        `${prefix}:questions:${job!.id}`,
        job!.returnvalue as AnswerResult,
      ),
      eventsBytes: Number(await o.admin.memory('USAGE', eventsKey, 'SAMPLES', '0')),
      eventsLen: await o.admin.xlen(eventsKey),
      completedBytes: Number(await o.admin.memory('USAGE', completedKey, 'SAMPLES', '0')),
    };
  } finally {
    await worker.close(10_000);
    await client.queue.obliterate({ force: true });
    await client.close();
  }
}

export async function run(options: RedisMemoryOptions = {}): Promise<BenchResult> {
  const retainedN = options.retained ?? 2000;
  const total = options.total ?? 100_000;
  const round = options.round ?? 10_000;
  const concurrency = options.concurrency ?? 50;
  const t0 = performance.now();
  let redis: BenchRedis | undefined;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const out = { extra: '', fields: '' };
  try {
    redis = await benchRedis('redis-memory');
    const admin = createRedisConnection(redis.url, 'worker');
    const ports = await instantPorts();

    // 1. Bytes per retained completed job, at the defaults and without excerpts.
    {
      const m = await measureRetained({ url: redis.url, admin, ports, concurrency, retainedN });
      const { retained, f, eventsBytes, eventsLen, completedBytes } = m;
      const perJob = m.perJob;
      const kept = f.answerBytes + f.sourceTextBytes;
      const hashOverhead = f.hashBytes - f.namesAndValues;
      const rest = perJob - f.hashBytes - completedBytes / retained - eventsBytes / retained;
      const opts = f.fields.find((x) => x.name === 'opts')?.valueBytes ?? 0;
      figures.push(
        {
          figure: `bytes per retained completed job (${fmt(retained)} retained; used_memory after − before ÷ retained)`,
          goal: '≤ 2 KB (2,048 B)',
          measured: `${fmt(perJob)} B`,
          kind: 'absolute',
          met: perJob <= 2048,
        },
        {
          figure: `of which: the answer and the sources' text the result keeps (${f.sources} × ≤ ${fmt(DEFAULTS.sourceTextChars)} chars, ASKQ_SOURCE_TEXT_CHARS)`,
          measured: `${fmt(kept)} B (${fmt(f.answerBytes)} + ${fmt(f.sourceTextBytes)})`,
        },
        {
          figure:
            'of which: the rest of the result (keys, ids, scores, usage, timings, JSON punctuation)',
          measured: `${fmt(f.restOfResultBytes)} B`,
        },
        {
          figure: "of which: the job's input (`data`: the question)",
          measured: `${fmt(f.inputBytes)} B`,
        },
        {
          figure: `of which: BullMQ's fields (${f.fields.length} field names; values of ${f.fields
            .filter((x) => x.owner === 'BullMQ')
            .map((x) => x.name)
            .join(', ')}), opts among them`,
          measured: `${fmt(f.bullmqBytes)} B; opts ${fmt(opts)} B`,
        },
        {
          figure: `of which: Redis's own cost of the hash (MEMORY USAGE ${fmt(f.hashBytes)} B − names and values: key, keyspace entry, ${f.encoding} encoding, allocation rounding)`,
          measured: `${fmt(hashOverhead)} B${f.asListpackBytes === undefined ? '' : `; ${fmt(f.asListpackBytes - f.namesAndValues)} B as a listpack`}`,
        },
        {
          figure: "of which: its entry in BullMQ's completed set (MEMORY USAGE ÷ retained)",
          measured: `${fmt(completedBytes / retained)} B`,
        },
        {
          figure: `of which: BullMQ events stream (MEMORY USAGE; entries, cap ${fmt(DEFAULTS.eventsMaxLen)}), per job`,
          measured: `${fmt(eventsBytes / 1e6, 2)} MB; ${fmt(eventsLen)} entries; ${fmt(eventsBytes / retained)} B per job`,
        },
        {
          figure: 'of which: the rest of used_memory (the keyspace table growing, allocator pages)',
          measured: `${fmt(rest)} B`,
        },
      );
      out.fields = fieldTable(f, (n) => fmt(n));
      const bare = await measureRetained({
        url: redis.url,
        admin,
        ports,
        concurrency,
        retainedN,
        env: { ASKQ_SOURCE_TEXT_CHARS: '0' },
      });
      figures.push({
        figure: `bytes per retained completed job with ASKQ_SOURCE_TEXT_CHARS=0 (no excerpts; same measure): all; its hash; its share of the events stream`,
        measured: `${fmt(bare.perJob)} B; ${fmt(bare.f.hashBytes)} B; ${fmt(bare.eventsBytes / bare.retained)} B`,
      });
      const redisOwn = hashOverhead + rest;
      notes.push(
        `What a retained job costs, at default settings, by whose bytes they are. **The result's content the issue keeps**: ${fmt(kept)} B, the answer (${fmt(f.answerBytes)} B, here the instant fake's echo of its context) and ${f.sources} source excerpts of ≤ ${fmt(DEFAULTS.sourceTextChars)} characters (${fmt(f.sourceTextBytes)} B), ${fmt((kept / 2048) * 100)} % of the 2,048 B goal on their own. **The rest of the contract**: ${fmt(f.restOfResultBytes)} B of keys, ids, scores, usage, timings and the trace id, all required by the schema, and the ${fmt(f.inputBytes)} B question. **BullMQ's**: ${fmt(f.bullmqBytes)} B of field names and bookkeeping values (timestamps, counters, the job id again inside opts) and ${fmt(completedBytes / retained)} B in the completed set; the events stream, ${fmt(eventsBytes / 1e6, 2)} MB at its cap of ASKQ_EVENTS_MAX_LEN = ${fmt(DEFAULTS.eventsMaxLen)} entries whatever the retention (each \`completed\` entry repeats the result), is ${fmt(eventsBytes / retained)} B per job at ${fmt(retained)} retained, ${fmt(eventsBytes / DEFAULTS.keepCompleted)} B at the default retention of ${fmt(DEFAULTS.keepCompleted)}. **Redis's own**: ${fmt(hashOverhead)} B for the hash (its key and keyspace entry, and the ${f.encoding} encoding Redis picks because the result is longer than \`hash-max-listpack-value\`, 64 B by default: a table entry and a separate allocation per field, rounded up to the allocator's size classes) and ${fmt(rest)} B of keyspace-table growth and allocator pages, ${fmt(redisOwn)} B in all.${f.asListpackBytes === undefined ? '' : ` Encoded as a listpack (a server with \`hash-max-listpack-value\` above the result's length, which askq documents but cannot require), the same hash would cost ${fmt(f.asListpackBytes)} B instead of ${fmt(f.hashBytes)} B.`}${perJob <= 2048 ? '' : ` So 2,048 B is out of reach at the default ASKQ_SOURCE_TEXT_CHARS = ${fmt(DEFAULTS.sourceTextChars)}: the excerpts, the contract's required fields and Redis's and BullMQ's per-job costs are ${fmt(perJob - f.answerBytes - eventsBytes / retained)} B without the answer and the events stream. Without excerpts (ASKQ_SOURCE_TEXT_CHARS=0, measured above) a job costs ${fmt(bare.perJob)} B.`}`,
      );
    }

    // 2. A long run with default retention.
    {
      const prefix = 'bench-mem-b';
      await admin.flushdb();
      const worker = await startBenchWorker({
        env: { REDIS_URL: redis.url, ASKQ_PREFIX: prefix },
        ports,
        concurrency,
      });
      const client = new AskqClient({ redisUrl: redis.url, prefix, telemetry: false });
      await client.queue.waitUntilReady();
      const samples: { done: number; memory: number; keys: number; completed: number }[] = [];
      const baseline = await usedMemory(admin);
      const started = performance.now();
      for (let done = 0; done < total; done += round) {
        const n = Math.min(round, total - done);
        const finished = waitForCompleted(worker.questions, n, 300_000);
        await client.askMany(questions(n, done).map((question) => ({ question })));
        await finished;
        samples.push({
          done: done + n,
          memory: await usedMemory(admin),
          keys: await admin.dbsize(),
          completed: await client.queue.getCompletedCount(),
        });
      }
      const seconds = (performance.now() - started) / 1000;
      await worker.close(10_000);
      await client.queue.obliterate({ force: true });
      await client.close();
      out.extra = [
        'One retained job, field by field:',
        '',
        out.fields,
        '',
        `Long run: ${fmt(total)} questions in rounds of ${fmt(round)} (enqueue a round with \`AskqClient.askMany\`, wait until it is answered, sample), default retention (10,000 completed), instant ports, concurrency ${concurrency}; ${fmt(seconds, 1)} s, ${fmt(total / seconds)} questions/s. Empty-queue baseline: used_memory ${fmt(baseline / 1e6, 2)} MB.`,
        '',
        '| questions answered | used_memory | keys (DBSIZE) | completed jobs retained |',
        '| --- | --- | --- | --- |',
        ...samples.map(
          (s) =>
            `| ${fmt(s.done)} | ${fmt(s.memory / 1e6, 2)} MB | ${fmt(s.keys)} | ${fmt(s.completed)} |`,
        ),
      ].join('\n');
      const reached = samples.find((s) => s.completed >= 10_000) ?? samples[0]!;
      const after = samples.filter((s) => s.done > reached.done);
      const maxMem = Math.max(reached.memory, ...after.map((s) => s.memory));
      const maxKeys = Math.max(reached.keys, ...after.map((s) => s.keys));
      const growth = maxMem / reached.memory - 1;
      const last = samples.at(-1)!;
      figures.push({
        figure: `steady state of the long run: (used_memory − empty baseline) ÷ completed jobs retained`,
        goal: '≤ 2 KB (2,048 B)',
        measured: `${fmt((last.memory - baseline) / last.completed)} B (events stream at its cap included)`,
        kind: 'absolute',
        met: (last.memory - baseline) / last.completed <= 2048,
      });
      const keyGrowth = maxKeys / reached.keys - 1;
      figures.push(
        {
          figure: `${fmt(total)}-question run: used_memory when retention is reached (${fmt(reached.done)} answered) → highest after it`,
          measured: `${fmt(reached.memory / 1e6, 2)} MB → ${fmt(maxMem / 1e6, 2)} MB (+${fmt(growth * 100, 1)} %)`,
          goal: 'flat (≤ +10 %)',
          kind: 'absolute',
          met: growth <= 0.1,
        },
        {
          figure: 'keys when retention is reached → highest after it',
          measured: `${fmt(reached.keys)} → ${fmt(maxKeys)} (+${fmt(keyGrowth * 100, 1)} %)`,
          goal: 'flat (≤ +10 %)',
          kind: 'absolute',
          met: keyGrowth <= 0.1,
        },
      );
    }
    admin.disconnect();
  } finally {
    await redis?.stop();
  }
  notes.push(
    'Retention: the worker bounds every job that carries no removeOnComplete/removeOnFail of its own (ASKQ_KEEP_COMPLETED / ASKQ_KEEP_FAILED / ASKQ_KEEP_SECONDS as Worker options), whoever enqueued it; the producer client puts them on a job only when its bounds differ from the defaults, so at default settings a job stores none.',
  );
  return {
    id: 'redis-memory',
    title: 'Redis memory',
    compares:
      'used_memory (INFO memory) of a private redis-server with the queue empty vs after answered jobs are retained, and across a 100,000-question run with default retention: what a user pays in Redis per question kept, and whether a long bulk run stays bounded.',
    goal: '≤ 2 KB per retained job; Redis memory flat once retention is reached',
    figures,
    notes,
    extra: out.extra,
    seconds: (performance.now() - t0) / 1000,
  };
}

const { values } = parseArgs({
  options: {
    retained: { type: 'string', default: '2000' },
    total: { type: 'string', default: '100000' },
    round: { type: 'string', default: '10000' },
  },
});
await runAsScript(import.meta.main, () =>
  run({
    retained: Number(values.retained),
    total: Number(values.total),
    round: Number(values.round),
  }),
);
