import { afterEach, describe, expect, it } from 'vitest';

import type { OpenAIRoute } from '../support/fake-openai-server.ts';
import {
  duplicateResults,
  type FaultStack,
  maxOf,
  printFigures,
  questionNumbers,
  startFaultStack,
} from '../support/fault-stack.ts';

const JOBS = 300;
const WORKERS = 2;
const CONCURRENCY = 5;
const OUTAGE_MS = 10_000;
const RESET_MS = 1000;
const VOLUME = 5;
/** The breaker's rolling window (ASKQ_BREAKER_WINDOW_MS's default). */
const WINDOW_MS = 10_000;

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('fault: a full LLM outage of ten seconds', () => {
  it('breakers keep calls to a small bound, burn no attempts while open, and every job completes', async () => {
    let down = false;
    /** `jobs`: the questions a request carried (embeddings of concurrent jobs share requests). */
    const arrivals: { route: OpenAIRoute; at: number; failed: boolean; jobs: number }[] = [];
    stack = await startFaultStack({
      env: {
        ASKQ_CONCURRENCY: String(CONCURRENCY),
        ASKQ_BREAKER_VOLUME: String(VOLUME),
        ASKQ_BREAKER_ERROR_PERCENT: '50',
        ASKQ_BREAKER_RESET_MS: String(RESET_MS),
        ASKQ_BACKOFF_MS: '100',
        ASKQ_BACKOFF_MAX_MS: '1000',
      },
      fake: {
        latencyMs: 20,
        // The whole provider is down: chat answers 503, embeddings drop the connection.
        decide: (route) => {
          if (!down) return undefined;
          return route === 'chat' ? { status: 503 } : { dropConnection: true };
        },
        onTraffic: (e) => {
          if (e.kind === 'request' && e.route !== undefined && e.route !== 'models') {
            const jobs = questionNumbers(e.request).length;
            arrivals.push({ route: e.route, at: e.at, failed: down, jobs });
          }
        },
      },
    });
    // When each worker's breakers opened (AskqWorker's breaker:state event: metrics use the same).
    const opened: Record<'chat' | 'embeddings', number[][]> = { chat: [], embeddings: [] };
    const started = Date.now();
    for (let w = 0; w < WORKERS; w += 1) {
      opened.chat.push([]);
      opened.embeddings.push([]);
      const worker = await stack.startWorker();
      worker.on('breaker:state', ({ dependency, state }) => {
        if (state === 'open' && (dependency === 'chat' || dependency === 'embeddings'))
          opened[dependency][w]!.push(Date.now());
      });
    }
    const ids = await stack.enqueue(JOBS);
    const completedCount = async () => (await stack!.queue.getCompletedCount()) ?? 0;

    await stack.waitFor('60 jobs to complete', async () => (await completedCount()) >= 60, 30_000);
    const outageStart = Date.now();
    down = true;
    const completedAtStart = await completedCount();
    // The outage is the scenario's own clock, not a wait for the system.
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    const completedAtEnd = await completedCount();
    down = false;
    const outageEnd = Date.now();

    await stack.waitForFinished(ids, 60_000);
    const seconds = (Date.now() - started) / 1000;
    const recoveredAfterMs = Date.now() - outageEnd;
    const outcomes = await stack.outcomes(ids);
    const completed = outcomes.filter((o) => o.state === 'completed');

    const during = (route: OpenAIRoute) =>
      arrivals.filter((a) => a.route === route && a.at >= outageStart && a.at < outageEnd).length;
    const failed = arrivals.filter((a) => a.failed);
    const failedCalls = failed.length;
    /** Job-calls that failed: a shared embeddings request fails every job in it. */
    const failedJobCalls = failed.reduce((n, a) => n + a.jobs, 0);
    // Successful job-calls still in the breakers' rolling windows when the outage began: with a
    // 50% threshold a breaker opens only once its failures match them, so they enter the bound.
    // (Counted per job: a shared embeddings request is one breaker call for many jobs, so this
    // over-counts the embeddings breaker's window and the bound stays an upper bound.)
    const windowSuccesses = (route: OpenAIRoute) =>
      arrivals
        .filter((a) => a.route === route && a.at >= outageStart - WINDOW_MS && a.at < outageStart)
        .reduce((n, a) => n + a.jobs, 0);
    // Per worker and dependency: the failures that open the breaker (volume, or the window's
    // successes), the other calls already in flight, and one half-open trial per reset.
    const bound = (route: OpenAIRoute) =>
      WORKERS * (VOLUME + CONCURRENCY + Math.ceil(OUTAGE_MS / RESET_MS) + 1) +
      windowSuccesses(route);
    // Once every worker's breaker for a route is open, only half-open trials reach it: one per
    // worker per reset period (plus calls that were already on the wire when it opened).
    const allOpenAt = (route: 'chat' | 'embeddings') => {
      const firsts = opened[route].map((times) => times.find((t) => t >= outageStart));
      return firsts.every((t) => t !== undefined && t < outageEnd)
        ? Math.max(...(firsts as number[]))
        : undefined;
    };
    const afterAllOpen = (route: 'chat' | 'embeddings') => {
      const at = allOpenAt(route);
      if (at === undefined) return undefined;
      const calls = arrivals.filter((a) => a.route === route && a.at >= at && a.at < outageEnd);
      const trials = WORKERS * (Math.ceil((outageEnd - at) / RESET_MS) + 1);
      return {
        openedAfterMs: at - outageStart,
        calls: calls.length,
        bound: trials + WORKERS * CONCURRENCY,
      };
    };
    const spent = completed.reduce((n, o) => n + (o.attempts ?? 0) - 1, 0);
    printFigures('llm-outage', {
      jobs: JOBS,
      completed: completed.length,
      lost: JOBS - completed.length,
      duplicateResults: duplicateResults(stack.events),
      completedDuringOutage: completedAtEnd - completedAtStart,
      chatCallsDuringOutage: during('chat'),
      embeddingCallsDuringOutage: during('embeddings'),
      boundChat: bound('chat'),
      boundEmbeddings: bound('embeddings'),
      windowSuccesses: { chat: windowSuccesses('chat'), embeddings: windowSuccesses('embeddings') },
      breakerOpens: {
        chat: opened.chat.map((t) => t.length),
        embeddings: opened.embeddings.map((t) => t.length),
      },
      onceAllOpen: { chat: afterAllOpen('chat'), embeddings: afterAllOpen('embeddings') },
      chatCalls: stack.fake.calls.chat,
      embeddingCalls: stack.fake.calls.embeddings,
      failedCalls,
      failedJobCalls,
      attemptsSpentOnFailures: spent,
      maxAttempts: maxOf(completed.map((o) => o.attempts)),
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      recoveredAfterMs,
      seconds,
    });

    expect(completed).toHaveLength(JOBS);
    // The outage was real and mid-run: nothing but calls already answered finished during it.
    expect(completedAtStart).toBeLessThan(JOBS - 100);
    expect(completedAtEnd - completedAtStart).toBeLessThanOrEqual(WORKERS * CONCURRENCY);
    expect(during('chat')).toBeLessThanOrEqual(bound('chat'));
    expect(during('embeddings')).toBeLessThanOrEqual(bound('embeddings'));
    // Every job needs embeddings first, so that breaker must have opened in every worker.
    expect(afterAllOpen('embeddings')).toBeDefined();
    for (const route of ['chat', 'embeddings'] as const) {
      const steady = afterAllOpen(route);
      if (steady)
        expect(steady.calls, `${route} calls once open`).toBeLessThanOrEqual(steady.bound);
    }
    // Attempts are spent only by calls that really failed, never by an open breaker: each
    // failed call cost each job in it one attempt, every other start was given back.
    expect(spent).toBe(failedJobCalls);
    expect(maxOf(completed.map((o) => o.attempts))).toBeLessThanOrEqual(4);
  }, 120_000);
});
