import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { ExternalJobUrl, QueueJobJson } from '@bull-board/api/typings/app';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';

import { DEFAULTS } from '../../shared/defaults.ts';
import type { Redis } from '../../shared/redis.ts';
import { type Admission, describeFullness } from '../admission.ts';
import { boardGuard } from './board-guard.ts';
import { redactJobData } from './redact-job-data.ts';

export interface BullBoardOptions {
  /** The queues to show. */
  queues: readonly Queue[];
  /** Redis memory against the high-water mark, shown in each queue's header. @defaultValue not shown */
  admission?: Admission;
  /** Basic auth user. */
  user: string;
  /** Basic auth password. */
  password: string;
  /** Counts failed logins per client address across API processes. */
  redis: Redis;
  /** Key prefix of those counters. */
  prefix: string;
  /** Viewer-only: no retry, remove, clean, pause or add. @defaultValue false */
  readOnly?: boolean;
  /** Jaeger UI base URL; each job with a trace id links to its trace. @defaultValue no links */
  jaegerUrl?: string;
  /** @defaultValue /admin/queues */
  basePath?: string;
}

export const BULL_BOARD_DEFAULTS = {
  readOnly: DEFAULTS.boardReadOnly,
  basePath: '/admin/queues',
} satisfies Partial<BullBoardOptions>;

/**
 * Mounts Bull Board behind HTTP Basic auth (the board has no auth of its own), a failed-login
 * limit and a same-origin check on changes ({@link boardGuard}). Job data and return values
 * pass through {@link redactJobData}, so secrets a producer put in a job never reach the screen.
 */
export async function mountBullBoard(
  app: FastifyInstance,
  options: BullBoardOptions,
): Promise<void> {
  const basePath = options.basePath ?? BULL_BOARD_DEFAULTS.basePath;
  const readOnly = options.readOnly ?? BULL_BOARD_DEFAULTS.readOnly;
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(basePath);
  const adapters = options.queues.map((queue) => {
    const adapter = new AdmissionAwareAdapter(queue, options.admission, {
      readOnlyMode: readOnly,
      allowRetries: !readOnly,
      ...(options.jaegerUrl
        ? {
            // The board draws no link when this returns undefined (a job without a trace yet).
            externalJobUrl: (job: QueueJobJson) =>
              traceLink(options.jaegerUrl!, job) as ExternalJobUrl,
          }
        : {}),
    });
    adapter.setFormatter('data', redactJobData);
    adapter.setFormatter('returnValue', redactJobData);
    return adapter;
  });
  createBullBoard({
    queues: adapters,
    serverAdapter,
    options: { uiConfig: { boardTitle: 'askq' } },
  });
  await app.register(async (scope) => {
    scope.addHook(
      'onRequest',
      boardGuard({
        user: options.user,
        password: options.password,
        redis: options.redis,
        prefix: options.prefix,
      }),
    );
    await scope.register(serverAdapter.registerPlugin(), { prefix: basePath });
  });
}

/**
 * A queue adapter whose description (the board shows it under the queue's name) is Redis
 * memory against the high-water mark. The board asks synchronously on each refresh, so it
 * gets the last reading and a new one is started for the next refresh.
 */
class AdmissionAwareAdapter extends BullMQAdapter {
  readonly #admission: Admission | undefined;

  constructor(
    queue: Queue,
    admission: Admission | undefined,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
  ) {
    super(queue, options);
    this.#admission = admission;
  }

  override getDescription(): string {
    if (!this.#admission) return super.getDescription();
    void this.#admission.state().catch(() => undefined);
    const latest = this.#admission.latest;
    if (!latest) return 'Redis memory: not read yet';
    const verdict = latest.state === 'refusing' ? 'QUEUE FULL: new questions are refused. ' : '';
    return `${verdict}${describeFullness(latest)}.`;
  }
}

/** The Jaeger link of a job whose result carries a trace id. */
export function traceLink(jaegerUrl: string, job: Pick<QueueJobJson, 'returnvalue'>) {
  const traceId = (job.returnvalue as { traceId?: unknown } | null | undefined)?.traceId;
  if (typeof traceId !== 'string' || !/^[0-9a-f]{32}$/i.test(traceId)) return undefined;
  return { displayText: 'Trace', href: `${jaegerUrl.replace(/\/+$/, '')}/trace/${traceId}` };
}
