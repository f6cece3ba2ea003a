import { afterEach, describe, expect, it } from 'vitest';

import { classifyProviderError } from '../../src/shared/classify-provider-error.ts';
import { RateLimitedError } from '../../src/shared/errors.ts';
import { createProviders } from '../../src/worker/providers/create-providers.ts';
import { providerOptionsFromConfig } from '../../src/worker/providers/provider-options.ts';
import type { OpenAIRoute, RecordedRequest } from '../support/fake-openai-server.ts';
import {
  duplicateResults,
  type FaultStack,
  maxOf,
  printFigures,
  startFaultStack,
} from '../support/fault-stack.ts';
import { observePorts } from '../support/observed-ports.ts';
import { randomFaults } from '../support/random-faults.ts';

const JOBS = 300;
const CONCURRENCY = 10;
const ATTEMPTS = 10;
const RETRY_AFTER_MS = 1000;
const SEED = 20_240_613;

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** Calls in `times` within [from, from + ms). */
function within(times: number[], from: number, ms: number): number[] {
  return times.filter((t) => t >= from && t < from + ms);
}

describe('fault: a flaky, rate-limiting LLM', () => {
  it('30% 500s and 5% 429s: every job completes within its attempts, no call before retry-after', async () => {
    const faults = randomFaults<OpenAIRoute>(
      ['chat'],
      [
        { rate: 0.3, behaviour: { status: 500 } },
        { rate: 0.05, behaviour: { status: 429, headers: { 'retry-after': '1' } } },
      ],
      SEED,
    );
    // The fake's view: when chat requests arrived and when it sent each 429.
    const arrivals: { at: number; request: RecordedRequest }[] = [];
    const sent429: { at: number; request: RecordedRequest }[] = [];
    stack = await startFaultStack({
      env: {
        ASKQ_CONCURRENCY: String(CONCURRENCY),
        ASKQ_ATTEMPTS: String(ATTEMPTS),
        ASKQ_BACKOFF_MS: '50',
        ASKQ_BACKOFF_MAX_MS: '400',
        ASKQ_BREAKER_RESET_MS: '500',
      },
      fake: {
        decide: faults.decide,
        onTraffic: (e) => {
          if (e.route !== 'chat') return;
          if (e.kind === 'request') arrivals.push(e);
          if (e.kind === 'response' && e.status === 429) sent429.push(e);
        },
      },
    });

    // The worker's view, from inside its chat guard: when each real chat call started (the
    // guard let it through) and when a 429 came back. Same LangChain client, only observed.
    const observed = observePorts(await createProviders(providerOptionsFromConfig(stack.config)));
    const started = Date.now();
    await stack.startWorker({ ports: observed.ports });
    const ids = await stack.enqueue(JOBS);
    await stack.waitForFinished(ids, 150_000);
    const seconds = (Date.now() - started) / 1000;
    const outcomes = await stack.outcomes(ids);
    const completed = outcomes.filter((o) => o.state === 'completed');
    const [fired500 = 0, fired429 = 0] = faults.fired;
    const chatCalls = observed.calls.filter((c) => c.port === 'chat');
    const starts = chatCalls.map((c) => c.startedAt);
    const received429 = chatCalls
      .filter((c) => classifyProviderError(c.error, 'chat') instanceof RateLimitedError)
      .map((c) => c.endedAt!);

    const startedDuringPause = received429.flatMap((r) => within(starts, r, RETRY_AFTER_MS));
    const inFlightAt429 = sent429.map(
      (s) =>
        within(
          arrivals.filter((a) => a.request !== s.request).map((a) => a.at),
          s.at,
          RETRY_AFTER_MS,
        ).length,
    );
    printFigures('flaky-provider', {
      jobs: JOBS,
      completed: completed.length,
      lost: JOBS - completed.length,
      duplicateResults: duplicateResults(stack.events),
      chatCalls: stack.fake.calls.chat,
      chat500: fired500,
      chat429: fired429,
      embeddingCalls: stack.fake.calls.embeddings,
      maxAttempts: maxOf(completed.map((o) => o.attempts)),
      attemptsSpent: completed.reduce((n, o) => n + (o.attempts ?? 0), 0),
      maxStarts: maxOf(outcomes.map((o) => o.attemptsStarted)),
      callsStartedWithin1sOfA429: startedDuringPause.length,
      maxArrivalsWithin1sOfA429: Math.max(0, ...inFlightAt429),
      seconds,
    });

    expect(completed).toHaveLength(JOBS);
    for (const o of completed) {
      expect(o.attempts, `job ${o.id} attempts`).toBeLessThanOrEqual(ATTEMPTS);
    }
    expect(fired429, 'the seeded run must draw some 429s').toBeGreaterThan(5);
    // Every call the fake saw is one of: a 500, a 429, or the one success of each job.
    expect(stack.fake.calls.chat).toBe(JOBS + fired500 + fired429);
    // Each 500 cost its job exactly one attempt; a 429 cost none.
    expect(completed.reduce((n, o) => n + (o.attempts ?? 0), 0)).toBe(JOBS + fired500);
    // Retries resume at generation: each question was embedded once.
    const embeddedTwice = ids
      .map((_, n) => n)
      .filter((n) => stack!.perQuestion.embedded.get(n) !== 1);
    expect(embeddedTwice).toEqual([]);
    expect(stack.events.completed.size).toBe(JOBS);

    // retry-after honoured: every 429 reached the worker, and no call started in the second after.
    expect(received429).toHaveLength(fired429);
    expect(startedDuringPause, 'chat calls started within 1 s of a 429 being received').toEqual([]);
    // The fake's side of the same fact: what arrives in the second after it sent a 429 can only
    // be calls already in flight when the 429 was received (at most the other active jobs).
    for (const n of inFlightAt429) expect(n).toBeLessThanOrEqual(CONCURRENCY - 1);
  }, 180_000);
});
