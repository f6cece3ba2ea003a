import { describe, expect, it } from 'vitest';

import {
  CONFIG_KEYS,
  ConfigError,
  loadConfig,
  redactConfig,
  redactUrl,
  SECRET_KEYS,
} from '../../src/shared/config.ts';

const OPENAI_KEY = 'sk-test-0123456789abcdef';
const PINECONE_KEY = 'pcsk-test-fedcba9876543210';

/** The ConfigError `loadConfig(env)` throws; fails the test when it does not throw one. */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults to an empty environment', () => {
    expect(loadConfig({})).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      ASKQ_PREFIX: 'askq',
      ASKQ_CONCURRENCY: 10,
      ASKQ_ATTEMPTS: 10,
      ASKQ_BACKOFF_MS: 1000,
      ASKQ_BACKOFF_MAX_MS: 60_000,
      ASKQ_CALL_TIMEOUT_MS: 30_000,
      ASKQ_SHUTDOWN_GRACE_MS: 30_000,
      ASKQ_BREAKER_ERROR_PERCENT: 50,
      ASKQ_BREAKER_VOLUME: 5,
      ASKQ_BREAKER_RESET_MS: 30_000,
      ASKQ_TOP_K: 4,
      ASKQ_NAMESPACE: 'default',
      ASKQ_CHUNK_SIZE: 800,
      ASKQ_CHUNK_OVERLAP: 100,
      ASKQ_KEEP_SECONDS: 7 * 86_400,
      ASKQ_CHAT_MODEL: 'gpt-4o-mini',
      ASKQ_EMBEDDING_MODEL: 'text-embedding-3-small',
      ASKQ_TEMPERATURE: 0,
      ASKQ_LOCAL_STORE_DIR: '.askq/store',
      ASKQ_LOCAL_EMBEDDING_DIMENSIONS: 1024,
      LOG_LEVEL: 'info',
      ASKQ_LLM: 'local',
      ASKQ_EMBEDDINGS: 'local',
      ASKQ_VECTOR_STORE: 'local',
    });
    expect(loadConfig({}).OPENAI_API_KEY).toBeUndefined();
  });

  it('parses numbers and ignores variables it does not know', () => {
    const config = loadConfig({ ASKQ_CONCURRENCY: '32', ASKQ_TEMPERATURE: '0.7', HOME: '/root' });
    expect(config.ASKQ_CONCURRENCY).toBe(32);
    expect(config.ASKQ_TEMPERATURE).toBe(0.7);
    expect(config).not.toHaveProperty('HOME');
  });

  it('reads the Redis high-water mark as a percent, with or without %', () => {
    expect(loadConfig({}).ASKQ_REDIS_HIGH_WATER).toBe(85);
    expect(loadConfig({ ASKQ_REDIS_HIGH_WATER: '70%' }).ASKQ_REDIS_HIGH_WATER).toBe(70);
    expect(() => loadConfig({ ASKQ_REDIS_HIGH_WATER: '120' })).toThrow(
      /ASKQ_REDIS_HIGH_WATER="120": .*100/,
    );
    expect(() => loadConfig({ ASKQ_REDIS_HIGH_WATER: 'most' })).toThrow(/ASKQ_REDIS_HIGH_WATER/);
  });

  describe('port selectors', () => {
    it('default to openai for chat and embeddings when OPENAI_API_KEY is set', () => {
      const config = loadConfig({ OPENAI_API_KEY: OPENAI_KEY });
      expect(config.ASKQ_LLM).toBe('openai');
      expect(config.ASKQ_EMBEDDINGS).toBe('openai');
      expect(config.ASKQ_VECTOR_STORE).toBe('local');
    });

    it('default to pinecone when PINECONE_API_KEY is set', () => {
      const config = loadConfig({ PINECONE_API_KEY: PINECONE_KEY, PINECONE_INDEX: 'askq' });
      expect(config.ASKQ_VECTOR_STORE).toBe('pinecone');
      expect(config.ASKQ_LLM).toBe('local');
    });

    it('are overridden by explicit values', () => {
      const config = loadConfig({
        OPENAI_API_KEY: OPENAI_KEY,
        PINECONE_API_KEY: PINECONE_KEY,
        ASKQ_LLM: 'local',
        ASKQ_EMBEDDINGS: 'openai',
        ASKQ_VECTOR_STORE: 'local',
      });
      expect(config.ASKQ_LLM).toBe('local');
      expect(config.ASKQ_EMBEDDINGS).toBe('openai');
      expect(config.ASKQ_VECTOR_STORE).toBe('local');
    });

    it('reject unknown providers', () => {
      expect(configError({ ASKQ_LLM: 'anthropic' }).problems).toEqual([
        expect.stringMatching(/^ASKQ_LLM="anthropic": /),
      ]);
    });
  });

  it('treats empty and blank strings as unset', () => {
    const config = loadConfig({
      REDIS_URL: '',
      ASKQ_CONCURRENCY: '',
      ASKQ_LLM: '  ',
      OPENAI_API_KEY: '',
      PINECONE_API_KEY: ' ',
      OPENAI_BASE_URL: '',
    });
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.ASKQ_CONCURRENCY).toBe(10);
    expect(config.ASKQ_LLM).toBe('local');
    expect(config.ASKQ_VECTOR_STORE).toBe('local');
    expect(config.OPENAI_API_KEY).toBeUndefined();
    expect(config.OPENAI_BASE_URL).toBeUndefined();
  });

  it('lists every invalid variable at once', () => {
    const err = configError({
      ASKQ_CONCURRENCY: 'many',
      ASKQ_TOP_K: '51',
      REDIS_URL: 'http://127.0.0.1:6379',
    });
    expect(err.problems).toHaveLength(3);
    expect(err.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^ASKQ_CONCURRENCY="many": /),
        expect.stringMatching(/^ASKQ_TOP_K="51": /),
        'REDIS_URL="http://127.0.0.1:6379": must start with redis:// or rediss://',
      ]),
    );
    for (const problem of err.problems) expect(err.message).toContain(problem);
    expect(err.name).toBe('ConfigError');
  });

  it.each([
    ['ASKQ_ATTEMPTS', '0'],
    ['ASKQ_ATTEMPTS', '1.5'],
    ['ASKQ_PREFIX', 'has:colon'],
    ['ASKQ_TEMPERATURE', '3'],
    ['LOG_LEVEL', 'loud'],
    ['OPENAI_BASE_URL', 'not a url'],
  ])('rejects %s=%s', (key, value) => {
    expect(configError({ [key]: value }).problems).toEqual([expect.stringContaining(`${key}=`)]);
  });

  describe('cross-field checks', () => {
    it('chunk overlap must be smaller than the chunk size', () => {
      expect(configError({ ASKQ_CHUNK_SIZE: '100', ASKQ_CHUNK_OVERLAP: '100' }).problems).toEqual([
        'ASKQ_CHUNK_OVERLAP: must be smaller than ASKQ_CHUNK_SIZE',
      ]);
    });

    it('the backoff cap must not be below the first delay', () => {
      expect(
        configError({ ASKQ_BACKOFF_MS: '5000', ASKQ_BACKOFF_MAX_MS: '1000' }).problems,
      ).toEqual(['ASKQ_BACKOFF_MAX_MS: must not be smaller than ASKQ_BACKOFF_MS']);
    });

    it('openai providers need OPENAI_API_KEY', () => {
      expect(configError({ ASKQ_EMBEDDINGS: 'openai' }).problems).toEqual([
        'OPENAI_API_KEY: required when ASKQ_LLM or ASKQ_EMBEDDINGS is openai',
      ]);
    });

    it('the pinecone store needs its key and index, both reported', () => {
      expect(configError({ ASKQ_VECTOR_STORE: 'pinecone' }).problems).toEqual([
        'PINECONE_API_KEY: required with ASKQ_VECTOR_STORE=pinecone',
        'PINECONE_INDEX: required with ASKQ_VECTOR_STORE=pinecone',
      ]);
    });
  });

  describe('secrets', () => {
    it('never appear in a ConfigError', () => {
      const err = configError({
        OPENAI_API_KEY: OPENAI_KEY,
        PINECONE_API_KEY: PINECONE_KEY,
        ASKQ_TOP_K: 'x',
        ASKQ_VECTOR_STORE: 'pinecone',
      });
      expect(err.problems.length).toBeGreaterThan(0);
      const text = `${err.message}\n${err.problems.join('\n')}\n${err.stack ?? ''}`;
      expect(text).not.toContain(OPENAI_KEY);
      expect(text).not.toContain(PINECONE_KEY);
    });

    it("never show a URL's password in a ConfigError", () => {
      const err = configError({ REDIS_URL: 'http://user:hunter2@redis.internal:6379' });
      expect(err.problems).toHaveLength(1);
      expect(err.message).toContain('redis.internal');
      expect(err.message).not.toContain('hunter2');
    });

    it('are redacted by redactConfig, REDIS_URL password included', () => {
      const config = loadConfig({
        OPENAI_API_KEY: OPENAI_KEY,
        PINECONE_API_KEY: PINECONE_KEY,
        PINECONE_INDEX: 'askq',
        REDIS_URL: 'redis://default:hunter2@redis.internal:6380/2',
      });
      const redacted = redactConfig(config);
      const text = JSON.stringify(redacted);
      expect(text).not.toContain(OPENAI_KEY);
      expect(text).not.toContain(PINECONE_KEY);
      expect(text).not.toContain('hunter2');
      expect(redacted.OPENAI_API_KEY).toBe('[redacted]');
      expect(redacted.REDIS_URL).toBe('redis://default:redacted@redis.internal:6380/2');
      expect(redacted.PINECONE_INDEX).toBe('askq');
      // The config itself is untouched.
      expect(config.OPENAI_API_KEY).toBe(OPENAI_KEY);
    });

    it('cover every key named like a secret', () => {
      const secretLike = CONFIG_KEYS.filter((k) => /_(KEYS?|SECRET|TOKEN|PASSWORD)$/.test(k));
      expect([...SECRET_KEYS].sort()).toEqual(secretLike.sort());
    });
  });
});

describe('redactUrl', () => {
  it.each([
    ['redis://:hunter2@host:6379', 'redis://:redacted@host:6379'],
    ['rediss://user:hunter2@host:6380/1', 'rediss://user:redacted@host:6380/1'],
    ['redis://hunter2@host:6379', 'redis://redacted@host:6379'],
    ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379'],
  ])('%s → %s', (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });

  it('redacts credentials of a URL it cannot parse', () => {
    expect(redactUrl('redis://us er:hunter2@[bad')).not.toContain('hunter2');
  });
});
