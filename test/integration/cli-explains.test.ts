import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Redis } from '../../src/shared/redis.ts';
import { deletePrefix, testConnection, testRedisUrl, uniquePrefix } from '../support/redis.ts';
import { runCli, spawnCli, stderrLine } from '../support/run-cli.ts';

const version = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

describe('askq explains itself (a real CLI process)', () => {
  const prefix = uniquePrefix('explain');
  let tmp: string;
  let redis: Redis;

  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'askq-explain-'));
    redis = testConnection();
  });

  afterAll(async () => {
    await deletePrefix(redis, prefix);
    await redis.quit();
    await rm(tmp, { recursive: true, force: true });
  });

  it('prints its version with --version and -V', async () => {
    for (const flag of ['--version', '-V']) {
      const res = await runCli([flag]);
      expect(res.code).toBe(0);
      expect(res.stdout.trim()).toBe(version);
    }
  });

  it('warns about an unknown ASKQ_* variable, naming the closest valid one', async () => {
    const res = await runCli(['config'], { ASKQ_CONCURENCY: '32' });
    expect(res.code).toBe(0);
    expect(res.stderr).toContain(
      'ASKQ_CONCURENCY is not a variable askq reads; did you mean ASKQ_CONCURRENCY?',
    );
    expect(JSON.parse(res.stdout)).toMatchObject({ ASKQ_CONCURRENCY: 10 });
  });

  it('warns at start when the OTLP protocol variable names no OTLP protocol', async () => {
    // Nothing listens on the endpoint: the command fails on its own input, after telemetry.
    const otlp = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9/',
      OTEL_METRICS_EXPORTER: 'none',
    };
    const missing = [join(tmp, 'no-run-a'), join(tmp, 'no-run-b')];
    const typo = await runCli(['eval', 'compare', ...missing], {
      ...otlp,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuff',
    });
    expect(typo.stderr).toContain(
      'askq: warning: OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuff is not an OTLP protocol (http/json, http/protobuf, grpc); sending traces as http/json',
    );
    const grpc = await runCli(['eval', 'compare', ...missing], {
      ...otlp,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    expect(grpc.code).toBe(typo.code);
    expect(grpc.stderr).not.toContain('warning');
  });

  it('accepts true/false/1/0/on/off/yes/no for every boolean, and refuses anything else', async () => {
    const on = await runCli(['config'], {
      ASKQ_CACHE: 'true',
      ASKQ_CAPTURE_CONTENT: 'on',
      ASKQ_ALLOW_ANONYMOUS: 'YES',
      ASKQ_BOARD_READ_ONLY: '1',
    });
    expect(on.code).toBe(0);
    expect(JSON.parse(on.stdout)).toMatchObject({
      ASKQ_CACHE: true,
      ASKQ_CAPTURE_CONTENT: true,
      ASKQ_ALLOW_ANONYMOUS: true,
      ASKQ_BOARD_READ_ONLY: true,
    });
    const off = await runCli(['config'], { ASKQ_CACHE: 'off', ASKQ_CAPTURE_CONTENT: 'no' });
    expect(JSON.parse(off.stdout)).toMatchObject({
      ASKQ_CACHE: false,
      ASKQ_CAPTURE_CONTENT: false,
    });
    const bad = await runCli(['config'], { ASKQ_CACHE: 'maybe' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('ASKQ_CACHE');
  });

  it('reads .env in the working directory; the real environment wins', async () => {
    const dir = join(tmp, 'with-env');
    await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
    await writeFile(join(dir, '.env'), 'ASKQ_TOP_K=7\nASKQ_CHAT_MODEL=from-file\n');
    const res = await runCli(['config'], { ASKQ_CHAT_MODEL: 'from-env' }, { cwd: dir });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ ASKQ_TOP_K: 7, ASKQ_CHAT_MODEL: 'from-env' });
  });

  it('exits 3 at once when Redis is unreachable, 2 for bad input', async () => {
    const down = await runCli(['ask', 'What is LCEL?', '--wait'], {
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(down.code).toBe(3);
    expect(down.stderr).toContain('Redis is unreachable at redis://127.0.0.1:1');
    const env = { REDIS_URL: testRedisUrl(), ASKQ_PREFIX: prefix };
    const noRun = await runCli(['eval', 'status', 'no-such-run'], env);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toContain('no run "no-such-run"');
    const badFlag = await runCli(
      ['eval', 'run', 'examples/questions.jsonl', '--fail-under', '2'],
      env,
    );
    expect(badFlag.code).toBe(2);
  });

  it('exits 3 when `ask --wait` runs out of time with nothing answering', async () => {
    const res = await runCli(['ask', 'What is LCEL?', '--wait', '--timeout', '0.5'], {
      REDIS_URL: testRedisUrl(),
      ASKQ_PREFIX: prefix,
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/not answered within 500 ms/);
  });

  it('says within seconds that no worker consumes the queue while `ask --wait` waits', async () => {
    const child = spawnCli(['ask', 'What is LCEL?', '--wait', '--timeout', '60'], {
      REDIS_URL: testRedisUrl(),
      ASKQ_PREFIX: prefix,
    });
    try {
      const stderr = await stderrLine(child, /no worker is consuming/);
      const lines = stderr.split('\n').filter((l) => l.includes('no worker'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('askq worker');
      expect(lines[0]).toContain('--with-worker');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says the same while `eval run` waits without --with-worker', async () => {
    const child = spawnCli(
      ['eval', 'run', 'examples/questions.jsonl', '--out', join(tmp, 'no-worker-run')],
      { REDIS_URL: testRedisUrl(), ASKQ_PREFIX: prefix },
    );
    try {
      await expect(
        stderrLine(child, /no worker is consuming the "questions" queue/),
      ).resolves.toContain('askq worker');
    } finally {
      child.kill('SIGKILL');
    }
  });
});
