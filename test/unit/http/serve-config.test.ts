import { describe, expect, it } from 'vitest';

import { ConfigError, loadConfig, redactConfig } from '../../../src/shared/config.ts';

describe('configuration of askq serve', () => {
  it('has safe defaults: no keys, not anonymous, no board, port 3000', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      ASKQ_HOST: '0.0.0.0',
      ASKQ_API_KEYS: [],
      ASKQ_ALLOW_ANONYMOUS: false,
      ASKQ_MAX_BATCH: 1000,
      ASKQ_BODY_LIMIT_BYTES: 8 * 1024 * 1024,
      ASKQ_RATE_LIMIT_MAX: 3000,
      ASKQ_RATE_LIMIT_WINDOW_MS: 60_000,
      ASKQ_BOARD_READ_ONLY: false,
    });
    expect(config.ASKQ_BOARD_USER).toBeUndefined();
    expect(config.ASKQ_JAEGER_URL).toBeUndefined();
  });

  it('splits comma-separated keys, trims them, and redacts them when printed', () => {
    const a = 'key-aaaaaaaaaaaaaaaa';
    const b = 'key-bbbbbbbbbbbbbbbb';
    const config = loadConfig({ ASKQ_API_KEYS: ` ${a}, ${b} ,`, ASKQ_ALLOW_ANONYMOUS: 'yes' });
    expect(config.ASKQ_API_KEYS).toEqual([a, b]);
    expect(config.ASKQ_ALLOW_ANONYMOUS).toBe(true);
    expect(JSON.stringify(redactConfig(config))).not.toContain('key-aaaa');
  });

  it('lists every problem without showing a secret: short keys, half a board login, bad values', () => {
    let error: ConfigError | undefined;
    try {
      loadConfig({
        ASKQ_API_KEYS: 'short-secret-1',
        ASKQ_BOARD_USER: 'ops',
        ASKQ_BOARD_READ_ONLY: 'maybe',
        ASKQ_JAEGER_URL: 'not a url',
        PORT: '70000',
      });
    } catch (err) {
      error = err as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = error!.problems.join('\n');
    for (const key of ['ASKQ_BOARD_READ_ONLY', 'ASKQ_JAEGER_URL', 'PORT'])
      expect(text).toContain(key);
    expect(loadConfigProblems({ ASKQ_API_KEYS: 'short-secret-1' })).toMatch(/at least 16/);
    expect(loadConfigProblems({ ASKQ_BOARD_PASSWORD: 'pw-canary' })).toMatch(/set both/);
    expect(loadConfigProblems({ ASKQ_API_KEYS: 'short-secret-1' })).not.toContain('short-secret-1');
  });
});

function loadConfigProblems(env: Record<string, string>): string {
  try {
    loadConfig(env);
    return '';
  } catch (err) {
    return (err as ConfigError).problems.join('\n');
  }
}
