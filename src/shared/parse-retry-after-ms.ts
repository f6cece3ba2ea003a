import { HOUR, MILLISECOND, MINUTE, SECOND } from './time.ts';

/** Response headers as the SDKs expose them: a fetch `Headers` or a plain record. */
export type HeadersLike =
  | { get(name: string): string | null }
  | Record<string, string | string[] | number | undefined | null>;

const UNIT_MS: Record<string, number> = {
  h: HOUR,
  m: MINUTE,
  s: SECOND,
  ms: MILLISECOND,
  us: MILLISECOND / 1000,
  µs: MILLISECOND / 1000,
  ns: MILLISECOND / 1_000_000,
};

/**
 * How long a provider asked us to wait, in ms, from its response headers; `undefined` when it
 * did not say. `retry-after-ms` (OpenAI) wins, then `retry-after` (seconds or an HTTP date),
 * then the larger of OpenAI's `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens`
 * (Go-style durations such as `1s`, `6m0s`, `20ms`, `1.5s`).
 *
 * @param now - the current time for HTTP dates, so tests can pin it
 */
export function parseRetryAfterMs(
  headers: HeadersLike | undefined | null,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const ms = parseNumber(header(headers, 'retry-after-ms'));
  if (ms !== undefined) return Math.ceil(ms);
  const retryAfter = parseRetryAfter(header(headers, 'retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const resets = [
    parseDuration(header(headers, 'x-ratelimit-reset-requests')),
    parseDuration(header(headers, 'x-ratelimit-reset-tokens')),
  ].filter((v): v is number => v !== undefined);
  return resets.length > 0 ? Math.ceil(Math.max(...resets)) : undefined;
}

function header(headers: HeadersLike, name: string): string | undefined {
  if (typeof headers.get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, unknown>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : record[key];
  if (Array.isArray(value)) return value[0] === undefined ? undefined : String(value[0]);
  return value === undefined || value === null ? undefined : String(value);
}

function parseNumber(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** `Retry-After`: delay-seconds or an HTTP date (RFC 9110 §10.2.3). */
function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  const seconds = parseNumber(value);
  if (seconds !== undefined) return Math.ceil(seconds * SECOND);
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A Go duration (`6m0s`, `1.5s`, `20ms`); a bare number means seconds. */
function parseDuration(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const seconds = parseNumber(text);
  if (seconds !== undefined) return seconds * SECOND;
  if (!/^(\d+(\.\d+)?(h|ms|us|µs|ns|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)/g)) {
    total += Number(amount) * (UNIT_MS[unit!] ?? 0);
  }
  return total;
}
