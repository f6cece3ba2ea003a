import type { Config } from './config.ts';
import { AskqError } from './errors.ts';

/** One `host:port` of a cluster node or a sentinel. */
export interface HostPort {
  host: string;
  port: number;
}

/** Credentials and TLS, the same in every mode. */
export interface RedisAuth {
  /** ACL user. @defaultValue none (the `default` user) */
  username?: string;
  /** Password of the data nodes (masters and replicas). Secret. @defaultValue none */
  password?: string;
  /** Connect with TLS (`rediss://` turns it on for a URL). @defaultValue false */
  tls?: boolean;
}

/**
 * Where askq's Redis is: one server (`standalone`, a URL), a Redis Cluster, or a master found
 * through Sentinel. Every process kind and client class connects through these settings.
 */
export type RedisSettings =
  | (RedisAuth & { mode: 'standalone'; url: string })
  | (RedisAuth & { mode: 'cluster'; nodes: HostPort[] })
  | (RedisAuth & {
      mode: 'sentinel';
      sentinels: HostPort[];
      /** Master group name the sentinels monitor. */
      name: string;
      /** Password of the sentinels themselves. Secret. @defaultValue none */
      sentinelPassword?: string;
    });

/** A Redis URL is shorthand for standalone settings. */
export type RedisTarget = string | RedisSettings;

export type RedisMode = RedisSettings['mode'];

/** Settings from the process configuration: cluster nodes win, then sentinels, then REDIS_URL. */
export function redisSettingsFrom(config: Config): RedisSettings {
  const auth: RedisAuth = {
    ...(config.ASKQ_REDIS_USERNAME ? { username: config.ASKQ_REDIS_USERNAME } : {}),
    ...(config.ASKQ_REDIS_PASSWORD ? { password: config.ASKQ_REDIS_PASSWORD } : {}),
    ...(config.ASKQ_REDIS_TLS ? { tls: true } : {}),
  };
  if (config.ASKQ_REDIS_CLUSTER_NODES.length > 0) {
    return { mode: 'cluster', nodes: config.ASKQ_REDIS_CLUSTER_NODES, ...auth };
  }
  if (config.ASKQ_REDIS_SENTINELS.length > 0) {
    return {
      mode: 'sentinel',
      sentinels: config.ASKQ_REDIS_SENTINELS,
      name: config.ASKQ_REDIS_SENTINEL_NAME ?? '',
      ...(config.ASKQ_REDIS_SENTINEL_PASSWORD
        ? { sentinelPassword: config.ASKQ_REDIS_SENTINEL_PASSWORD }
        : {}),
      ...auth,
    };
  }
  return { mode: 'standalone', url: config.REDIS_URL, ...auth };
}

export function toSettings(target: RedisTarget): RedisSettings {
  return typeof target === 'string' ? { mode: 'standalone', url: target } : target;
}

/** Where the settings point, without credentials: for logs, errors and `askq config`. */
export function describeRedis(target: RedisTarget): string {
  const s = toSettings(target);
  const tls = s.tls ? ' (TLS)' : '';
  switch (s.mode) {
    case 'standalone':
      return `${redactRedisUrl(s.url)}${tls}`;
    case 'cluster':
      return `cluster ${s.nodes.map(hostPort).join(',')}${tls}`;
    case 'sentinel':
      return `sentinel "${s.name}" via ${s.sentinels.map(hostPort).join(',')}${tls}`;
  }
}

const hostPort = (n: HostPort) => `${n.host}:${n.port}`;

/** Replaces a URL's password (and a lone username used as password). */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    else if (u.username) u.username = 'redacted';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
  }
}

/** Parses `host:port,host:port` (IPv6 as `[::1]:7000`); returns the problem when it can't. */
export function parseHostPorts(text: string): HostPort[] | string {
  const out: HostPort[] = [];
  for (const raw of text.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(item);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65_535) {
      return `"${item}" is not host:port (e.g. 10.0.0.5:6379)`;
    }
    out.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return out;
}

/**
 * True when every key starting with `prefix` hashes to one cluster slot: the prefix holds a
 * complete hash tag (`{…}` with something inside) before anything else in braces, and Redis
 * hashes only the text of the first such tag.
 */
export function hasHashTag(prefix: string): boolean {
  return /^[^{]*\{[^}]+\}/.test(prefix);
}

/** The one-line reason a prefix cannot be used on a cluster, or undefined when it can. */
export function clusterPrefixProblem(prefix: string): string | undefined {
  if (hasHashTag(prefix)) return undefined;
  return (
    `ASKQ_PREFIX "${prefix}" has no hash tag, so askq's keys would spread over Redis Cluster ` +
    `slots and multi-key commands fail; set ASKQ_PREFIX={${prefix.replace(/[{}]/g, '') || 'askq'}}`
  );
}

/** A client was given cluster settings with a prefix that has no hash tag. */
export class ClusterPrefixError extends AskqError {
  override name = 'ClusterPrefixError';
}

/** Throws {@link ClusterPrefixError} when `target` is a cluster and `prefix` has no hash tag. */
export function assertClusterPrefix(target: RedisTarget, prefix: string): void {
  if (toSettings(target).mode !== 'cluster') return;
  const problem = clusterPrefixProblem(prefix);
  if (problem) throw new ClusterPrefixError(problem);
}
