import { afterEach, describe, expect, it } from 'vitest';

import { SECOND } from '../../src/shared/time.ts';
import { createProviders } from '../../src/worker/providers/create-providers.ts';
import { providerOptionsFromConfig } from '../../src/worker/providers/provider-options.ts';
import type {
  OpenAIRoute,
  RecordedRequest,
  ScriptedBehaviour,
} from '../support/fake-openai-server.ts';
import {
  duplicateResults,
  type FaultStack,
  maxOf,
  printFigures,
  questionNumbers,
  startFaultStack,
} from '../support/fault-stack.ts';
import { observePorts } from '../support/observed-ports.ts';

const JOBS = 300;
/**
 * Far above a healthy call's latency even on a loaded machine: the first calls of a cold
 * worker (client set-up, first sockets) took ~550 ms at load 20, and a healthy call timed out
 * there is an extra attempt the assertions below rightly count. Each fault costs a slot this
 * long, so not larger than it needs to be.
 */
const CALL_TIMEOUT_MS = 2 * SECOND;

type Fault = 'hang' | 'stallBody';
/** Which route's first call about question `n` misbehaves, and how: 15 jobs of each kind. */
function faultOf(n: number): { route: OpenAIRoute; fault: Fault } | undefined {
  switch (n % 20) {
    case 1:
      return { route: 'chat', fault: 'hang' };
    case 6:
      return { route: 'chat', fault: 'stallBody' };
    case 11:
      return { route: 'embeddings', fault: 'hang' };
    case 16:
      return { route: 'embeddings', fault: 'stallBody' };
    default:
      return undefined;
  }
}

let stack: FaultStack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

describe('fault: a provider that hangs or stalls mid-body', () => {
  it('each call is aborted at ASKQ_CALL_TIMEOUT_MS, the fake sees the abort, the attempt counts', async () => {
    const seen = new Set<string>();
    /** Each misbehaving request: its route, fault and the questions it carried. */
    const faulted = new Map<RecordedRequest, { route: OpenAIRoute; fault: Fault; ns: number[] }>();
    const arrivedAt = new Map<RecordedRequest, number>();
    const abortedAfter = new Map<RecordedRequest, number>();
    stack = await startFaultStack({
      env: {
        ASKQ_CONCURRENCY: '10',
        ASKQ_CALL_TIMEOUT_MS: String(CALL_TIMEOUT_MS),
        ASKQ_BACKOFF_MS: '50',
        ASKQ_BACKOFF_MAX_MS: '200',
        ASKQ_BREAKER_RESET_MS: '500',
      },
      fake: {
        // The first request to its route carrying a chosen question misbehaves. Embeddings of
        // concurrent jobs share requests: the whole shared request does, and every job in it
        // loses that attempt.
        decide: (route, request) => {
          const ns = questionNumbers(request);
          const chosen = ns.filter(
            (n) => faultOf(n)?.route === route && !seen.has(`${route}:${n}`),
          );
          const first = chosen[0];
          if (first === undefined) return undefined;
          for (const n of chosen) seen.add(`${route}:${n}`);
          const fault = faultOf(first)!.fault;
          faulted.set(request, { route, fault, ns });
          const behaviour: ScriptedBehaviour =
            fault === 'hang' ? { hang: true } : { stallBody: true };
          return behaviour;
        },
        onTraffic: (e) => {
          if (e.kind === 'request') arrivedAt.set(e.request, e.at);
          if (e.kind === 'clientAbort') {
            abortedAfter.set(e.request, e.at - (arrivedAt.get(e.request) ?? Number.NaN));
          }
        },
      },
    });
    const s = stack;
    const started = Date.now();
    // Observed from inside the policies: how long each failed call took to be given up.
    const observed = observePorts(await createProviders(providerOptionsFromConfig(s.config)));
    await s.startWorker({ ports: observed.ports });
    const ids = await s.enqueue(JOBS);
    await s.waitForFinished(ids, 90_000);
    const seconds = (Date.now() - started) / 1000;
    const outcomes = await s.outcomes(ids);
    const completed = outcomes.filter((o) => o.state === 'completed');

    const faults = [...faulted.values()];
    const count = (route: OpenAIRoute, fault: Fault) =>
      faults.filter((f) => f.route === route && f.fault === fault).length;
    /** Faulted requests of `route` that carried question `n`. */
    const hits = (n: number, route?: OpenAIRoute) =>
      faults.filter((f) => (route === undefined || f.route === route) && f.ns.includes(n)).length;
    const abortTimes = [...faulted.keys()].map((r) => abortedAfter.get(r) ?? Number.NaN);
    const failedCalls = observed.calls.filter((c) => c.error !== undefined);
    const gaveUpAfter = failedCalls.map((c) => c.endedAt! - c.startedAt);
    const succeededIn = observed.calls
      .filter((c) => c.error === undefined)
      .map((c) => c.endedAt! - c.startedAt);
    printFigures('hung-provider', {
      jobs: JOBS,
      completed: completed.length,
      lost: JOBS - completed.length,
      duplicateResults: duplicateResults(s.events),
      chatHangs: count('chat', 'hang'),
      chatStalls: count('chat', 'stallBody'),
      embeddingHangs: count('embeddings', 'hang'),
      embeddingStalls: count('embeddings', 'stallBody'),
      jobsInAFaultedRequest: ids.filter((_, n) => hits(n) > 0).length,
      clientAborts: s.fake.clientAborts,
      chatCalls: s.fake.calls.chat,
      embeddingCalls: s.fake.calls.embeddings,
      maxAttempts: maxOf(completed.map((o) => o.attempts)),
      failedCallsSeenByWorker: failedCalls.length,
      workerGaveUpAfterMs: { min: Math.min(...gaveUpAfter), max: Math.max(...gaveUpAfter) },
      // The margin that keeps healthy calls clear of CALL_TIMEOUT_MS on a loaded machine.
      slowestSucceededCallMs: Math.max(...succeededIn),
      fakeSawAbortAfterMs: { min: Math.min(...abortTimes), max: Math.max(...abortTimes) },
      seconds,
    });

    expect(completed).toHaveLength(JOBS);
    expect(count('chat', 'hang')).toBe(15);
    expect(count('chat', 'stallBody')).toBe(15);
    expect(count('embeddings', 'hang')).toBeGreaterThan(0);
    expect(count('embeddings', 'stallBody')).toBeGreaterThan(0);
    // The attempt that hung counts, and nothing else does: a job's attempts are one plus the
    // faulted requests it was in (two for a chosen job that shared no faulted request).
    for (const [n, o] of outcomes.entries()) {
      expect(o.attempts, `job ${n} (${faultOf(n)?.fault ?? 'healthy'})`).toBe(1 + hits(n));
      if (faultOf(n)) expect(o.attempts).toBeGreaterThanOrEqual(2);
    }
    // Each faulted request is one failed call, a shared embeddings request included (the jobs
    // waiting on it do not call again), given up at its timeout: not before, not long after.
    expect(failedCalls).toHaveLength(faults.length);
    for (const ms of gaveUpAfter) {
      expect(ms).toBeGreaterThanOrEqual(CALL_TIMEOUT_MS - 1); // timers round to the millisecond
      expect(ms).toBeLessThan(CALL_TIMEOUT_MS + 1000); // slack for a busy CI machine
    }
    // The fake saw every faulted request abandoned by its client, and nothing else. (It logs a
    // request once its body is read, a little after the client's timer started.)
    expect(s.fake.clientAborts).toBe(faulted.size);
    for (const [request, what] of faulted) {
      const after = abortedAfter.get(request);
      expect(after, `${what.route} ${what.fault} of ${what.ns.join(',')}: aborted`).toBeDefined();
      expect(after!).toBeLessThan(CALL_TIMEOUT_MS + 2000);
    }
    // A chat retry resumes at generation; an embeddings failure repeats only retrieval.
    for (const n of ids.keys()) {
      expect(s.perQuestion.chat.get(n), `chat calls of job ${n}`).toBe(1 + hits(n, 'chat'));
      expect(s.perQuestion.embedded.get(n), `embeddings of job ${n}`).toBe(
        1 + hits(n, 'embeddings'),
      );
    }
  }, 120_000);
});
