import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Compares two secrets in constant time. Both sides are hashed first, so neither the
 * comparison nor an early length check tells an attacker how much of a guess was right.
 */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * A short, stable, non-reversible name of a key (`key:3f2a…`), used as the rate-limit bucket
 * and in logs instead of the key itself.
 */
export function keyFingerprint(key: string): string {
  return `key:${digest(key).toString('hex').slice(0, 16)}`;
}

/** The key among `keys` that `given` equals, checking every key so timing reveals nothing. */
export function matchKey(given: string, keys: readonly string[]): string | undefined {
  let found: string | undefined;
  for (const key of keys) if (secretsEqual(given, key)) found = key;
  return found;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
