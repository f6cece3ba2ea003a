import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { AskqError } from './errors.ts';

/** A private redis-server started from PATH. */
export interface LocalRedis {
  url: string;
  port: number;
  dir: string;
  /** The cluster bus's port, when started with {@link StartLocalRedisOptions.clusterPort}. */
  clusterPort?: number;
  process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its folder. */
  stop(): Promise<void>;
}

export interface StartLocalRedisOptions {
  /** Port to listen on. @defaultValue a free port */
  port?: number;
  /** AOF persistence (fault tests restart the server and expect their jobs back). @defaultValue false */
  appendonly?: boolean;
  /** Folder for data; reused across restarts when given. @defaultValue a new temp folder */
  dir?: string;
  /** @defaultValue redis-server */
  binary?: string;
  /** Require this password (`requirepass`). @defaultValue none */
  password?: string;
  /** A config file read first (Sentinel needs a writable one). @defaultValue none */
  configFile?: string;
  /**
   * Runs a cluster node (`--cluster-enabled yes`) whose bus listens on this port, or on a free
   * one found with the server's own (and found again with it) when `'free'`. @defaultValue not a
   * cluster node
   */
  clusterPort?: number | 'free';
  /** More arguments, after askq's (`--cluster-enabled yes`, `--sentinel`, …). @defaultValue none */
  extraArgs?: string[];
  /** The log line that says the server is up (a sentinel prints no "Ready" line). @defaultValue /Ready to accept connections/ */
  readyPattern?: RegExp;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** redis-server could not listen: a port it was given was taken before it bound it. */
export class PortInUseError extends AskqError {
  override name = 'PortInUseError';
}

/** Attempts at a free port before {@link startLocalRedis} gives up. */
const PORT_ATTEMPTS = 5;

/**
 * Starts `redis-server` on 127.0.0.1 with `noeviction`, resolving once it accepts connections.
 * A port found free (without a `port`, or a `clusterPort` of `'free'`) may be taken by
 * someone else before the server binds it (any process's outgoing connection may get it from
 * the same ephemeral range): it then tries other free ones, {@link PORT_ATTEMPTS} times in all.
 */
export async function startLocalRedis(options: StartLocalRedisOptions = {}): Promise<LocalRedis> {
  const retries = options.port === undefined || options.clusterPort === 'free';
  for (let attempt = 1; ; attempt += 1) {
    try {
      const port = options.port ?? (await freePort());
      const clusterPort = options.clusterPort === 'free' ? await freePort() : options.clusterPort;
      return await startOnce(port, clusterPort, options);
    } catch (err) {
      if (!(err instanceof PortInUseError) || !retries || attempt >= PORT_ATTEMPTS) throw err;
    }
  }
}

async function startOnce(
  port: number,
  clusterPort: number | undefined,
  options: StartLocalRedisOptions,
): Promise<LocalRedis> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'askq-redis-')));
  const args = [
    ...(options.configFile ? [options.configFile] : []),
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    ...(options.password ? ['--requirepass', options.password] : []),
    ...(clusterPort === undefined
      ? []
      : ['--cluster-enabled', 'yes', '--cluster-port', String(clusterPort)]),
    ...(options.extraArgs ?? []),
  ];
  const ready = options.readyPattern ?? /Ready to accept connections/i;
  const child = spawn(options.binary ?? 'redis-server', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new AskqError(`redis-server did not start:\n${output}`)),
      10_000,
    );
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new AskqError(`cannot run redis-server: ${err.message}`, { cause: err }));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const Failure = /Address already in use/.test(output) ? PortInUseError : AskqError;
      reject(new Failure(`redis-server exited with ${code}:\n${output}`));
    });
    const onData = () => {
      if (ready.test(output)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
  });
  try {
    await started;
  } catch (err) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  child.removeAllListeners('exit');
  stopWithParent(child);
  return {
    url: options.password
      ? `redis://:${encodeURIComponent(options.password)}@127.0.0.1:${port}`
      : `redis://127.0.0.1:${port}`,
    port,
    dir,
    ...(clusterPort === undefined ? {} : { clusterPort }),
    process: child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Makes the server end with this process, even a SIGKILLed one (no exit handler runs then): a
 * shell waits on a pipe from this process, which the kernel closes when it dies, and then
 * kills the server. The watcher ends as soon as the server does, so it never signals a pid
 * that has been reused, and neither it nor its pipe keeps this process alive.
 */
function stopWithParent(server: ChildProcess): void {
  if (server.pid === undefined) return;
  const watcher = spawn('sh', ['-c', `read _; kill -9 ${server.pid} 2>/dev/null`], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watcher.on('error', () => {});
  watcher.unref();
  (watcher.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  server.once('exit', () => {
    watcher.kill('SIGKILL');
  });
}
