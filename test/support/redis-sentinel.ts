import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Redis as IORedis } from 'ioredis';

import { type LocalRedis, startLocalRedis } from '../../src/shared/local-redis.ts';
import type { RedisSettings } from '../../src/shared/redis-settings.ts';
import { killOnExit, stopAll, waitFor } from './redis-processes.ts';

/** A master, its replica and three sentinels watching them, on free ports in temp folders. */
export interface LocalSentinel {
  /** The master group name. */
  name: string;
  /** Both data servers; which one is master changes with a failover. */
  servers: LocalRedis[];
  sentinels: LocalRedis[];
  settings: RedisSettings;
  /** Environment for an askq process. */
  env: Record<string, string>;
  /** The data server the sentinels name as master now. */
  master(): Promise<LocalRedis>;
  /**
   * Resolves with the new master once every live sentinel names the same one, other than
   * `old`, and it says it is a master; rejects after `timeoutMs`.
   */
  waitFailover(old: LocalRedis, timeoutMs: number): Promise<LocalRedis>;
  /** SIGKILLs a server and resolves once it exited. */
  kill(server: LocalRedis): Promise<void>;
  /**
   * Starts a killed data server again on its port; the sentinels make it a replica. With
   * `asReplica`, it starts as a replica of the sentinels' current master instead, as an
   * operator's restart would, without waiting for the sentinels to convert it (they do so only
   * after seeing it a master for a while, which takes tens of seconds on a loaded machine).
   * With `promotable: false` as well, it has replica priority 0: the sentinels never promote it.
   */
  restart(
    server: LocalRedis,
    options?: { asReplica?: boolean; promotable?: boolean },
  ): Promise<LocalRedis>;
  /**
   * Resolves when the sentinels agree on a live master that has a replica in sync, and
   * each sentinel knows the other two (so the next failover can be voted).
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** Kills every process and removes their folders. */
  stop(): Promise<void>;
}

export interface LocalSentinelOptions {
  /** How long the master may be silent before the sentinels call it down. @defaultValue 1000 */
  downAfterMs?: number;
  /** The master and replica require it (the sentinels do not). @defaultValue none */
  password?: string;
}

const NAME = 'askq-test';

/** Starts the setup (`redis-server --sentinel`), in parallel where it can, without persistence. */
export async function startLocalSentinel(
  options: LocalSentinelOptions = {},
): Promise<LocalSentinel> {
  const downAfterMs = options.downAfterMs ?? 1000;
  const { password } = options;
  // A replica (and a returning old master) authenticates to its master with the same password.
  const dataOptions = password ? { password, extraArgs: ['--masterauth', password] } : {};
  const all: LocalRedis[] = [];
  const dirs: string[] = [];
  const started = (server: LocalRedis) => {
    killOnExit(server);
    all.push(server);
    return server;
  };
  let setup: LocalSentinel;
  try {
    const master = started(await startLocalRedis(dataOptions));
    const startSentinel = async () => {
      const dir = await mkdtemp(join(tmpdir(), 'askq-sentinel-'));
      dirs.push(dir);
      const configFile = join(dir, 'sentinel.conf');
      await writeFile(
        configFile,
        [
          `sentinel monitor ${NAME} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${NAME} ${downAfterMs}`,
          // Short: a failed election is retried after twice this, not after the default 6 minutes.
          `sentinel failover-timeout ${NAME} ${3 * downAfterMs}`,
          `sentinel parallel-syncs ${NAME} 1`,
          ...(password ? [`sentinel auth-pass ${NAME} ${password}`] : []),
          '',
        ].join('\n'),
      );
      return started(
        await startLocalRedis({
          dir,
          configFile,
          extraArgs: ['--sentinel'],
          readyPattern: /\+monitor master/,
        }),
      );
    };
    const [replica, ...sentinels] = await Promise.all([
      startLocalRedis({
        ...dataOptions,
        extraArgs: [
          ...(dataOptions.extraArgs ?? []),
          '--replicaof',
          '127.0.0.1',
          String(master.port),
        ],
      }).then(started),
      startSentinel(),
      startSentinel(),
      startSentinel(),
    ]);
    const servers = [master, replica!];
    const hosts = sentinels.map((s) => ({ host: '127.0.0.1', port: s.port }));
    setup = {
      name: NAME,
      servers,
      sentinels,
      settings: {
        mode: 'sentinel',
        sentinels: hosts,
        name: NAME,
        ...(password ? { password } : {}),
      },
      env: {
        ASKQ_REDIS_SENTINELS: hosts.map((h) => `${h.host}:${h.port}`).join(','),
        ASKQ_REDIS_SENTINEL_NAME: NAME,
        ...(password ? { ASKQ_REDIS_PASSWORD: password } : {}),
      },
      async master() {
        const port = await askSentinels(sentinels, async (c) => {
          const reply = (await c.call('SENTINEL', 'get-master-addr-by-name', NAME)) as string[];
          return Number(reply[1]);
        });
        const server = servers.find((s) => s.port === port && alive(s));
        if (!server) throw new Error(`sentinels name an unknown master :${port}`);
        return server;
      },
      async waitFailover(old, timeoutMs) {
        let found: LocalRedis | undefined;
        await waitFor(
          async () => {
            const ports = await Promise.all(
              sentinels.filter(alive).map((sentinel) =>
                connect(sentinel, async (c) => {
                  const reply = (await c.call(
                    'SENTINEL',
                    'get-master-addr-by-name',
                    NAME,
                  )) as string[];
                  return Number(reply[1]);
                }).catch(() => 0),
              ),
            );
            const port = ports[0];
            if (port === old.port || ports.some((p) => p !== port)) return false;
            found = servers.find((s) => s.port === port && alive(s));
            if (!found) return false;
            const info = await connect(found, (c) => c.info('replication'), password).catch(
              () => '',
            );
            return /role:master/.test(info);
          },
          timeoutMs,
          'every sentinel to name the new master',
        );
        return found!;
      },
      async kill(server) {
        if (!alive(server)) return;
        const exited = new Promise((resolve) => server.process.once('exit', resolve));
        server.process.kill('SIGKILL');
        await exited;
      },
      async restart(server, options = {}) {
        const master = options.asReplica ? await this.master() : undefined;
        const again = started(
          await startLocalRedis({
            ...dataOptions,
            port: server.port,
            ...(master
              ? {
                  extraArgs: [
                    ...(dataOptions.extraArgs ?? []),
                    '--replicaof',
                    '127.0.0.1',
                    String(master.port),
                    ...(options.promotable === false ? ['--replica-priority', '0'] : []),
                  ],
                }
              : {}),
          }),
        );
        servers.push(again);
        return again;
      },
      waitHealthy: (timeoutMs = 30_000) =>
        waitFor(() => healthy(setup, sentinels, password), timeoutMs, 'sentinel setup healthy'),
      async stop() {
        await stopAll(all);
        await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
      },
    };
  } catch (err) {
    await stopAll(all);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    throw err;
  }
  try {
    await setup.waitHealthy();
  } catch (err) {
    await setup.stop();
    throw err;
  }
  return setup;
}

const alive = (s: LocalRedis) => s.process.exitCode === null && s.process.signalCode === null;

async function connect<T>(
  server: LocalRedis,
  fn: (client: IORedis) => Promise<T>,
  password?: string,
): Promise<T> {
  const client = new IORedis(server.port, '127.0.0.1', {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    ...(password ? { password } : {}),
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

async function askSentinels<T>(
  sentinels: LocalRedis[],
  fn: (c: IORedis) => Promise<T>,
): Promise<T> {
  const sentinel = sentinels.find(alive);
  if (!sentinel) throw new Error('no live sentinel');
  return connect(sentinel, fn);
}

async function healthy(
  setup: LocalSentinel,
  sentinels: LocalRedis[],
  password?: string,
): Promise<boolean> {
  try {
    const master = await setup.master();
    if (!alive(master)) return false;
    const replication = await connect(master, (c) => c.info('replication'), password);
    if (!/role:master/.test(replication) || !/slave0:.*state=online/.test(replication))
      return false;
    for (const sentinel of sentinels.filter(alive)) {
      const ok = await connect(sentinel, async (c) => {
        const fields = (await c.call('SENTINEL', 'master', setup.name)) as string[];
        const info = new Map<string, string>();
        for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
        return (
          info.get('port') === String(master.port) &&
          info.get('num-other-sentinels') === String(sentinels.length - 1) &&
          info.get('num-slaves') !== '0' &&
          !/s_down|o_down/.test(info.get('flags') ?? '')
        );
      });
      if (!ok) return false;
    }
    return true;
  } catch {
    return false;
  }
}
