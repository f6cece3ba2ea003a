import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';

import { freePort, PortInUseError, startLocalRedis } from '../../src/shared/local-redis.ts';

const LOCAL_REDIS = fileURLToPath(new URL('../../src/shared/local-redis.ts', import.meta.url));

/** A node process that starts a private redis-server and prints its pid and port. */
function hostProcess(thenStop: boolean) {
  const script = `
    import { startLocalRedis } from ${JSON.stringify(LOCAL_REDIS)};
    const redis = await startLocalRedis();
    console.log(JSON.stringify({ pid: redis.process.pid, port: redis.port }));
    ${thenStop ? 'await redis.stop();' : 'setInterval(() => {}, 60_000);'}
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started = new Promise<{ pid: number; port: number }>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { pid: number; port: number });
    });
  });
  return { child, started };
}

describe('startLocalRedis', () => {
  it('takes its redis-server down with it when the process that started it is SIGKILLed', async () => {
    const { child, started } = hostProcess(false);
    const { port } = await started;
    // A connection to the server: its close is the server going away.
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    const closed = once(socket, 'close');
    socket.on('error', () => {});
    child.kill('SIGKILL');
    await closed;
    const again = connect(port, '127.0.0.1');
    const [err] = (await once(again, 'error')) as [NodeJS.ErrnoException];
    // Refused, or reset by a listener the kernel is still tearing down: nobody answers.
    expect(['ECONNREFUSED', 'ECONNRESET']).toContain(err.code);
  }, 30_000);

  it('lets the process that started it exit once it stopped the server', async () => {
    const { child, started } = hostProcess(true);
    await started;
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  }, 30_000);
});

describe('startLocalRedis and a port taken before the server binds it', () => {
  it('refuses a given port that is taken with PortInUseError', async () => {
    const holder = createServer();
    holder.listen(0, '127.0.0.1');
    await once(holder, 'listening');
    const { port } = holder.address() as { port: number };
    try {
      await expect(startLocalRedis({ port })).rejects.toBeInstanceOf(PortInUseError);
    } finally {
      holder.close();
    }
  });

  /** redis-server, but its first start fails as a lost race for a port does. */
  async function racingBinary(dir: string) {
    const failedOnce = join(dir, 'failed-once');
    const binary = join(dir, 'redis-server-racing');
    await writeFile(
      binary,
      [
        '#!/bin/sh',
        `if [ ! -e '${failedOnce}' ]; then`,
        `  touch '${failedOnce}'`,
        '  echo "# Warning: Could not create server TCP listening socket 127.0.0.1:1: bind: Address already in use"',
        '  exit 1',
        'fi',
        'exec redis-server "$@"',
        '',
      ].join('\n'),
    );
    await chmod(binary, 0o755);
    return { binary, failedOnce };
  }

  it('tries another port when the one it found is taken first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'askq-port-race-'));
    const { binary, failedOnce } = await racingBinary(dir);
    try {
      const redis = await startLocalRedis({ binary });
      await redis.stop();
      expect(existsSync(failedOnce)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tries another cluster bus port, keeping a given port, when its free one is taken first', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'askq-port-race-'));
    const { binary, failedOnce } = await racingBinary(dir);
    const port = await freePort();
    try {
      const redis = await startLocalRedis({ binary, port, clusterPort: 'free' });
      try {
        expect(existsSync(failedOnce)).toBe(true);
        expect(redis.port).toBe(port);
        const client = new Redis(port, '127.0.0.1');
        try {
          expect(await client.config('GET', 'cluster-port')).toEqual([
            'cluster-port',
            String(redis.clusterPort),
          ]);
        } finally {
          client.disconnect();
        }
      } finally {
        await redis.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
