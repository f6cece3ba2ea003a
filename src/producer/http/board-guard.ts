import type { FastifyReply, FastifyRequest } from 'fastify';

import type { Redis } from '../../shared/redis.ts';
import { MINUTE, SECOND } from '../../shared/time.ts';
import { secretsEqual } from './credentials.ts';
import { HttpProblem, sendProblem } from './problem.ts';

export interface BoardGuardOptions {
  /** Basic auth user. */
  user: string;
  /** Basic auth password. */
  password: string;
  /** Counts failed logins across API processes. */
  redis: Redis;
  /** Key prefix of the failure counters. */
  prefix: string;
  /** Failed logins per client address in each window before it is refused. @defaultValue 10 */
  maxFailedLogins?: number;
  /** @defaultValue 60000 */
  failedLoginWindowMs?: number;
}

export const BOARD_GUARD_DEFAULTS = {
  maxFailedLogins: 10,
  failedLoginWindowMs: 1 * MINUTE,
} satisfies Partial<BoardGuardOptions>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The board's `onRequest` hook, in order:
 *
 * 1. a client address with `maxFailedLogins` failed logins in the window gets 429 (even with
 *    the right password, so guessing stops paying), with `Retry-After`;
 * 2. HTTP Basic auth, compared in constant time; a wrong user or password (a request that
 *    sent credentials) counts as a failed login, shared by API processes through Redis;
 * 3. a request that changes something (retry, clean, remove, promote, pause: any method but
 *    GET, HEAD, OPTIONS) must come from the board's own pages: a browser sends Basic
 *    credentials along with a cross-site request, so without this any page its user visits
 *    could drive the board. Same origin is proven by `Origin` (its host equal to the
 *    request's) or, without it, by `Sec-Fetch-Site: same-origin`; else 403.
 *
 * While Redis is unreachable the login limit is skipped; the password still guards the board.
 */
export function boardGuard(options: BoardGuardOptions) {
  const opts = { ...BOARD_GUARD_DEFAULTS, ...options };
  const challenge = { 'WWW-Authenticate': 'Basic realm="askq board", charset="UTF-8"' };
  const failuresKey = (ip: string) => `${opts.prefix}:askq:board-login-failures:${ip}`;

  return async (request: FastifyRequest, reply: FastifyReply) => {
    const key = failuresKey(request.ip);
    const failures = await opts.redis.get(key).catch(() => null);
    if (Number(failures ?? 0) >= opts.maxFailedLogins) {
      const ttlMs = await opts.redis.pttl(key).catch(() => opts.failedLoginWindowMs);
      const seconds = Math.max(
        1,
        Math.ceil((ttlMs > 0 ? ttlMs : opts.failedLoginWindowMs) / SECOND),
      );
      return sendProblem(
        reply,
        new HttpProblem(
          429,
          'rate-limited',
          `more than ${opts.maxFailedLogins} failed Bull Board logins a minute from this address; retry in ${seconds} s`,
          { headers: { 'Retry-After': String(seconds) } },
        ),
      );
    }

    const header = request.headers.authorization;
    if (!credentialsMatch(header, opts.user, opts.password)) {
      if (header !== undefined) await countFailure(opts.redis, key, opts.failedLoginWindowMs);
      return sendProblem(
        reply,
        new HttpProblem(
          401,
          'unauthorized',
          'Bull Board needs its user and password (Basic auth)',
          {
            headers: challenge,
          },
        ),
      );
    }

    if (!SAFE_METHODS.has(request.method) && !sameOrigin(request)) {
      return sendProblem(
        reply,
        new HttpProblem(
          403,
          'forbidden',
          'Bull Board accepts changes only from its own pages (Origin or Sec-Fetch-Site must say same origin)',
        ),
      );
    }
  };
}

function credentialsMatch(header: string | undefined, user: string, password: string): boolean {
  const encoded = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header ?? '')?.[1];
  const decoded = encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const givenUser = colon < 0 ? '' : decoded.slice(0, colon);
  const givenPassword = colon < 0 ? '' : decoded.slice(colon + 1);
  // Both compared every time, so timing tells nothing about which one was wrong.
  const userOk = secretsEqual(givenUser, user);
  const passwordOk = secretsEqual(givenPassword, password);
  return userOk && passwordOk;
}

/** Whether the request provably comes from a page of the board's own origin. */
function sameOrigin(request: FastifyRequest): boolean {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    try {
      return new URL(origin).host === request.host;
    } catch {
      return false; // `null` (a sandboxed or privacy-redirected page) or garbage
    }
  }
  return request.headers['sec-fetch-site'] === 'same-origin';
}

async function countFailure(redis: Redis, key: string, windowMs: number): Promise<void> {
  try {
    const count = await redis.incr(key);
    if (count === 1) await redis.pexpire(key, windowMs);
  } catch {
    // Redis unreachable: the limit is skipped, the password still guards the board.
  }
}
