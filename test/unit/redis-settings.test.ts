import { describe, expect, it } from 'vitest';

import type { ConfigError } from '../../src/shared/config.ts';
import { loadConfig, redactConfig } from '../../src/shared/config.ts';
import {
  clusterPrefixProblem,
  describeRedis,
  hasHashTag,
  parseHostPorts,
  redisSettingsFrom,
} from '../../src/shared/redis-settings.ts';

describe('Redis connection settings', () => {
  it('parses host:port lists, IPv6 in brackets included, and names a bad entry', () => {
    expect(parseHostPorts('10.0.0.5:6379, redis-b:7000,[::1]:7001')).toEqual([
      { host: '10.0.0.5', port: 6379 },
      { host: 'redis-b', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    expect(parseHostPorts('10.0.0.5')).toMatch(/"10.0.0.5" is not host:port/);
    expect(parseHostPorts('a:70000')).toMatch(/not host:port/);
  });

  it('picks cluster nodes over sentinels over REDIS_URL, with auth and TLS in every mode', () => {
    const auth = {
      ASKQ_REDIS_PASSWORD: 'pw-1',
      ASKQ_REDIS_USERNAME: 'askq',
      ASKQ_REDIS_TLS: 'true',
    };
    expect(redisSettingsFrom(loadConfig({ ...auth }))).toEqual({
      mode: 'standalone',
      url: 'redis://127.0.0.1:6379',
      username: 'askq',
      password: 'pw-1',
      tls: true,
    });
    expect(
      redisSettingsFrom(
        loadConfig({
          ...auth,
          ASKQ_REDIS_SENTINELS: 's1:26379,s2:26379',
          ASKQ_REDIS_SENTINEL_NAME: 'mymaster',
        }),
      ),
    ).toMatchObject({ mode: 'sentinel', name: 'mymaster', password: 'pw-1', tls: true });
    expect(
      redisSettingsFrom(
        loadConfig({ ...auth, ASKQ_REDIS_CLUSTER_NODES: 'n1:7000', ASKQ_PREFIX: '{askq}' }),
      ),
    ).toMatchObject({ mode: 'cluster', nodes: [{ host: 'n1', port: 7000 }], tls: true });
  });

  it('describes where it connects without credentials', () => {
    expect(describeRedis('rediss://:hunter2@cache.example:6380')).toBe(
      'rediss://:redacted@cache.example:6380',
    );
    expect(
      describeRedis({
        mode: 'cluster',
        nodes: [{ host: 'n1', port: 7000 }],
        password: 'x',
        tls: true,
      }),
    ).toBe('cluster n1:7000 (TLS)');
  });

  it('knows a hash tag: the first {…} with something inside', () => {
    expect(hasHashTag('{askq}')).toBe(true);
    expect(hasHashTag('app-{askq}')).toBe(true);
    expect(hasHashTag('askq')).toBe(false);
    expect(hasHashTag('{}askq')).toBe(false);
    expect(hasHashTag('{askq')).toBe(false);
    expect(clusterPrefixProblem('{askq}')).toBeUndefined();
    expect(clusterPrefixProblem('jobs')).toMatch(/set ASKQ_PREFIX=\{jobs\}$/);
  });

  it('refuses a cluster without a hash-tag prefix, sentinels without a name, or both modes', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ ASKQ_REDIS_CLUSTER_NODES: 'n1:7000' })).toEqual([
      expect.stringMatching(/ASKQ_PREFIX "askq" has no hash tag/),
    ]);
    expect(problems({ ASKQ_REDIS_SENTINELS: 's1:26379' })).toEqual([
      expect.stringMatching(/^ASKQ_REDIS_SENTINEL_NAME: required/),
    ]);
    expect(
      problems({
        ASKQ_REDIS_CLUSTER_NODES: 'n1:7000',
        ASKQ_PREFIX: '{askq}',
        ASKQ_REDIS_SENTINELS: 's1:26379',
        ASKQ_REDIS_SENTINEL_NAME: 'm',
      }),
    ).toEqual([expect.stringMatching(/either cluster nodes or sentinels/)]);
    expect(problems({ ASKQ_REDIS_CLUSTER_NODES: 'n1' })).toEqual([
      expect.stringMatching(/^ASKQ_REDIS_CLUSTER_NODES="n1": "n1" is not host:port/),
    ]);
  });

  it('redactConfig shows the mode and hides the Redis passwords', () => {
    const shown = redactConfig(
      loadConfig({
        ASKQ_REDIS_SENTINELS: 's1:26379',
        ASKQ_REDIS_SENTINEL_NAME: 'm',
        ASKQ_REDIS_PASSWORD: 'pw-data',
        ASKQ_REDIS_SENTINEL_PASSWORD: 'pw-sentinel',
      }),
    );
    expect(shown.ASKQ_REDIS_MODE).toBe('sentinel');
    expect(shown.ASKQ_REDIS_TARGET).toBe('sentinel "m" via s1:26379');
    const text = JSON.stringify(shown);
    expect(text).not.toContain('pw-data');
    expect(text).not.toContain('pw-sentinel');
  });
});
