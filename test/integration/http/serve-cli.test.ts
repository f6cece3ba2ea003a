import { once } from 'node:events';

import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type LocalRedis, startLocalRedis } from '../../../src/shared/local-redis.ts';
import { runCli, spawnCli } from '../../support/run-cli.ts';

const KEY = 'serve-key-canary-4f1c2a9b7e3d5c6a8b0e';
const BOARD_PASSWORD = 'board-pass-canary-91d2';
const REDIS_PASSWORD = 'redis-pass-canary-5e7f';

describe('askq serve (a real process)', () => {
  let redis: LocalRedis;
  let url: string;
  beforeAll(async () => {
    // A private Redis with a password, so the test can check the password never shows.
    redis = await startLocalRedis();
    const admin = new Redis(redis.url);
    await admin.config('SET', 'requirepass', REDIS_PASSWORD);
    admin.disconnect();
    url = `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}`;
  });
  afterAll(async () => {
    await redis.stop();
  });

  it('refuses to start without API keys (exit 2) unless anonymous access is explicit', async () => {
    const res = await runCli(['serve'], { REDIS_URL: url, PORT: '0' });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/ASKQ_API_KEYS/);
    expect(res.stderr).toMatch(/ASKQ_ALLOW_ANONYMOUS=true/);
  });

  it('serves, keeps every secret out of its output, and exits 0 on SIGTERM', async () => {
    const child = spawnCli(['serve'], {
      REDIS_URL: url,
      PORT: '0',
      ASKQ_HOST: '127.0.0.1',
      ASKQ_API_KEYS: KEY,
      ASKQ_BOARD_USER: 'ops',
      ASKQ_BOARD_PASSWORD: BOARD_PASSWORD,
      LOG_LEVEL: 'trace',
    });
    let output = '';
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const address = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`serve exited with ${code}:\n${output}`)));
      child.stdout?.on('data', (d: Buffer) => {
        output += d.toString();
        const m = /"address":"(http:\/\/[^"]+)".*askq API listening/.exec(output);
        if (m) resolve(m[1]!);
      });
    });
    child.removeAllListeners('exit');
    try {
      const ok = await fetch(`${address}/v1/questions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ question: 'over a socket?' }),
      });
      expect(ok.status).toBe(202);
      const { id } = (await ok.json()) as { id: string };
      const status = await fetch(`${address}/v1/questions/${id}`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      expect(await status.json()).toMatchObject({ id, state: 'prioritized' });
      expect((await fetch(`${address}/readyz`)).status).toBe(200);
      const wrongKey = await fetch(`${address}/v1/questions/${id}`, {
        headers: { authorization: `Bearer ${KEY}x` },
      });
      expect(wrongKey.status).toBe(401);
      const board = await fetch(`${address}/admin/queues`, {
        headers: {
          authorization: `Basic ${Buffer.from(`ops:${BOARD_PASSWORD}`).toString('base64')}`,
        },
      });
      expect(board.status).toBe(200);
    } finally {
      const exited = once(child, 'exit') as Promise<[number | null]>;
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
    }
    expect(output).toMatch(/shutting down/);
    for (const secret of [KEY, BOARD_PASSWORD, REDIS_PASSWORD])
      expect(output).not.toContain(secret);
  });
});
