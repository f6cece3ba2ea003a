/** Last words of a key that name a secret: `apiToken`, `db_password`, `clientSecret`, `Authorization`. */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'pwd',
  'secret',
  'token',
  'cookie',
  'auth',
  'authorization',
  'credential',
  'credentials',
]);
/** Words before a final `key` that make it a secret: `apiKey`, `private_key`, `accessKey`. */
const KEY_QUALIFIERS = new Set(['api', 'private', 'secret', 'access', 'signing', 'encryption']);

/** Whether a key names a secret, judged by its last word(s) so `inputTokens` stays visible. */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z\d])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z\d]+/)
    .filter(Boolean);
  const last = words.at(-1) ?? '';
  if (SECRET_WORDS.has(last) || last === 'apikey') return true;
  return last === 'key' && KEY_QUALIFIERS.has(words.at(-2) ?? '');
}

/** URL credentials (`scheme://user:password@host`). */
const URL_CREDENTIALS = /\b([a-z][a-z\d+.-]*:\/\/)[^\s/@]+@/gi;

const REDACTED = '[redacted]';

/**
 * A copy of job data (or a return value) with secrets hidden: values under secret-looking keys
 * anywhere in the tree, and credentials inside URLs in any string. Bull Board's formatter for
 * job data, so an operator's screen never shows a caller's token.
 */
export function redactJobData(value: unknown, depth = 0): unknown {
  if (depth > 32) return REDACTED;
  if (typeof value === 'string') return value.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
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
