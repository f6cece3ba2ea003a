import type { FastifyRequest } from 'fastify';

import { keyFingerprint, matchKey } from './credentials.ts';
import { HttpProblem } from './problem.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling: a key's fingerprint, or `anonymous:<ip>`; set by the bearer check. */
    askqPrincipal: string;
    /** Whose questions the caller enqueues and sees: the key's fingerprint, or `anonymous`. */
    askqOwner: string;
    /** The key is one of ASKQ_ADMIN_KEYS: it may read and cancel every question. */
    askqAdmin: boolean;
  }
}

export interface BearerAuthOptions {
  /** Accepted keys. */
  keys: readonly string[];
  /** Accepted keys that may also read and cancel every question. @defaultValue none */
  adminKeys?: readonly string[];
  /** Accept requests without a key when no key is configured. @defaultValue false */
  allowAnonymous?: boolean;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="askq"' };

/**
 * An `onRequest` hook checking `Authorization: Bearer <key>` against the configured keys in
 * constant time. It names the caller in `request.askqPrincipal` (the rate limiter's bucket).
 */
export function bearerAuth(options: BearerAuthOptions) {
  const adminKeys = options.adminKeys ?? [];
  const anonymous =
    options.keys.length === 0 && adminKeys.length === 0 && options.allowAnonymous === true;
  const allKeys = [...options.keys, ...adminKeys];
  return async (request: FastifyRequest): Promise<void> => {
    if (anonymous) {
      request.askqPrincipal = `anonymous:${request.ip}`;
      request.askqOwner = 'anonymous';
      request.askqAdmin = false;
      return;
    }
    const header = request.headers.authorization;
    if (header === undefined) {
      throw new HttpProblem(401, 'unauthorized', 'send Authorization: Bearer <API key>', {
        headers: CHALLENGE,
      });
    }
    const token = /^Bearer +(\S+) *$/i.exec(header)?.[1];
    const key = token === undefined ? undefined : matchKey(token, allKeys);
    if (key === undefined) {
      throw new HttpProblem(401, 'unauthorized', 'the API key is not valid', {
        headers: { 'WWW-Authenticate': 'Bearer realm="askq", error="invalid_token"' },
      });
    }
    request.askqPrincipal = keyFingerprint(key);
    request.askqOwner = request.askqPrincipal;
    request.askqAdmin = matchKey(token!, adminKeys) !== undefined;
  };
}
