import { isSecretKey, REDACTED, redactUrlCredentials } from '../../shared/secrets.ts';

/**
 * A copy of job data (or a return value) with secrets hidden: values under secret-looking keys
 * anywhere in the tree, and credentials inside URLs in any string. Bull Board's formatter for
 * job data, so an operator's screen never shows a caller's token.
 */
export function redactJobData(value: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (Array.isArray(value)) return value.map((v) => redactJobData(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        isSecretKey(k) ? REDACTED : redactJobData(v, depth + 1),
      ]),
    );
  }
  return value;
}
