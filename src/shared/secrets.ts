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
/** Words before a final `key`/`keys` that make it a secret: `apiKey`, `private_key`, `ASKQ_ADMIN_KEYS`. */
const KEY_QUALIFIERS = new Set([
  'api',
  'admin',
  'private',
  'secret',
  'access',
  'signing',
  'encryption',
]);

/** Whether a key names a secret, judged by its last word(s) so `inputTokens` stays visible. */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z\d])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z\d]+/)
    .filter(Boolean);
  const last = words.at(-1) ?? '';
  if (SECRET_WORDS.has(last) || last === 'apikey') return true;
  return (last === 'key' || last === 'keys') && KEY_QUALIFIERS.has(words.at(-2) ?? '');
}

/**
 * URL credentials (`scheme://user:password@host`). A password may hold a `/` left unencoded
 * (`redis://:pa/ss@db`, which ioredis accepts); a user name may not, so a path with an `@`
 * (`https://registry/@scope/pkg`) is left alone.
 */
export const URL_CREDENTIALS = /\b([a-z][a-z\d+.-]*:\/\/)(?:[^\s/@:]*:[^\s@]*|[^\s/@]+)@/gi;

export const REDACTED = '[redacted]';

/** A string with the credentials inside any URL in it hidden. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
}
