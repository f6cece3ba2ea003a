import {
  type RecordedRequest,
  type RouteResponse,
  type ScriptedBehaviour,
  startScriptedHttpServer,
} from './scripted-http-server.ts';

/**
 * A fake Pinecone data plane (and the one control-plane call a client makes when it has no
 * host): in-memory namespaces, cosine similarity, Pinecone's JSON shapes and limits. The real
 * `@pinecone-database/pinecone` v9 client talks to it when given {@link FakePinecone.host} (or
 * {@link FakePinecone.controllerHostUrl} and the index name). Metadata filters are not
 * implemented: a `filter` is answered with 400 so a test notices rather than passing silently.
 */

export type PineconeRoute =
  'upsert' | 'query' | 'delete' | 'list' | 'fetch' | 'describeIndexStats' | 'describeIndex';

export type { RecordedRequest, ScriptedBehaviour } from './scripted-http-server.ts';

export interface FakePineconeOptions {
  /** When set, requests must carry `Api-Key: <apiKey>`, else 401. @defaultValue any key */
  apiKey?: string;
  /** Name `describeIndex` answers for. @defaultValue askq-test */
  indexName?: string;
  /** Delay before every answer, in ms. @defaultValue 0 */
  latencyMs?: number;
}

export interface StoredVector {
  id: string;
  values: number[];
  metadata?: Record<string, unknown>;
}

/** A running fake; see {@link startFakePinecone}. */
export interface FakePinecone {
  /** The index host, for `pc.index({ host })` / `PINECONE_HOST`. */
  readonly host: string;
  /** The control plane URL (same server), for `controllerHostUrl`. */
  readonly controllerHostUrl: string;
  readonly calls: Record<PineconeRoute, number>;
  readonly requests: Record<PineconeRoute, RecordedRequest[]>;
  latencyMs: number;
  readonly clientAborts: number;
  /** The stored vectors of a namespace (`''` is the default one), by id. */
  namespace(name: string): ReadonlyMap<string, StoredVector>;
  failNext(route: PineconeRoute, ...behaviours: ScriptedBehaviour[]): void;
  lastRequest(route: PineconeRoute): RecordedRequest | undefined;
  nextClientAbort(): Promise<void>;
  nextRequest(route: PineconeRoute): Promise<RecordedRequest>;
  close(): Promise<void>;
}

/** Pinecone's documented data-plane limits. */
export const PINECONE_LIMITS = {
  maxIdBytes: 512,
  maxUpsertVectors: 1000,
  maxRequestBytes: 2 * 1024 * 1024,
  maxDeleteIds: 1000,
  maxListLimit: 100,
  maxTopK: 10_000,
} as const;

const DEFAULTS = { indexName: 'askq-test', latencyMs: 0 } satisfies FakePineconeOptions;

const ROUTES = [
  'upsert',
  'query',
  'delete',
  'list',
  'fetch',
  'describeIndexStats',
  'describeIndex',
] as const satisfies readonly PineconeRoute[];

const DATA_ROUTES: Record<string, PineconeRoute> = {
  'POST /vectors/upsert': 'upsert',
  'POST /query': 'query',
  'POST /vectors/delete': 'delete',
  'GET /vectors/list': 'list',
  'GET /vectors/fetch': 'fetch',
  'POST /describe_index_stats': 'describeIndexStats',
};

/** Starts the fake on a free port of 127.0.0.1. */
export async function startFakePinecone(options: FakePineconeOptions = {}): Promise<FakePinecone> {
  const indexName = options.indexName ?? DEFAULTS.indexName;
  const spaces = new Map<string, Map<string, StoredVector>>();
  let dimension: number | undefined;
  const space = (name: unknown): Map<string, StoredVector> => {
    const key = typeof name !== 'string' || name === '__default__' ? '' : name;
    let found = spaces.get(key);
    if (!found) spaces.set(key, (found = new Map()));
    return found;
  };

  const server = await startScriptedHttpServer<PineconeRoute>({
    routes: ROUTES,
    latencyMs: options.latencyMs ?? DEFAULTS.latencyMs,
    match: (method, path) =>
      DATA_ROUTES[`${method} ${path}`] ??
      (method === 'GET' && path === `/indexes/${encodeURIComponent(indexName)}`
        ? 'describeIndex'
        : undefined),
    authorize: (request) => {
      const key = request.headers['api-key'];
      if (!key || (options.apiKey !== undefined && key !== options.apiKey)) {
        // Pinecone answers a bad key with plain text.
        return { status: 401, body: 'Invalid API Key' };
      }
      return undefined;
    },
    errorResponse,
    handle: (route, request) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      switch (route) {
        case 'upsert':
          return upsert(body);
        case 'query':
          return query(body);
        case 'delete':
          return remove(body);
        case 'list':
          return list(request.query);
        case 'fetch':
          return fetchVectors(request.query);
        case 'describeIndexStats':
          return { body: stats() };
        case 'describeIndex':
          return { body: describeIndex() };
      }
    },
  });

  function upsert(body: Record<string, unknown>): RouteResponse {
    const vectors = body.vectors as StoredVector[] | undefined;
    if (!Array.isArray(vectors) || vectors.length === 0) return badRequest('No vectors provided');
    if (vectors.length > PINECONE_LIMITS.maxUpsertVectors) {
      return badRequest(`Batch size exceeds ${PINECONE_LIMITS.maxUpsertVectors}`);
    }
    if (Buffer.byteLength(JSON.stringify(body)) > PINECONE_LIMITS.maxRequestBytes) {
      return badRequest('Request size exceeds the maximum supported size of 2MB');
    }
    for (const v of vectors) {
      if (Buffer.byteLength(v.id) > PINECONE_LIMITS.maxIdBytes) {
        return badRequest(`Vector ID must be ${PINECONE_LIMITS.maxIdBytes} characters or less`);
      }
      dimension ??= v.values.length;
      if (v.values.length !== dimension) {
        return badRequest(
          `Vector dimension ${v.values.length} does not match the dimension of the index ${dimension}`,
        );
      }
    }
    const target = space(body.namespace);
    for (const v of vectors) target.set(v.id, { id: v.id, values: v.values, metadata: v.metadata });
    return { body: { upsertedCount: vectors.length } };
  }

  function query(body: Record<string, unknown>): RouteResponse {
    const topK = body.topK as number;
    const vector = body.vector as number[] | undefined;
    if (!Number.isInteger(topK) || topK < 1 || topK > PINECONE_LIMITS.maxTopK) {
      return badRequest('topK must be between 1 and 10000');
    }
    if (!Array.isArray(vector)) return badRequest('vector is required');
    if (body.filter !== undefined) return badRequest('the fake does not implement filters');
    if (dimension !== undefined && vector.length !== dimension) {
      return badRequest(
        `Vector dimension ${vector.length} does not match the dimension of the index ${dimension}`,
      );
    }
    const matches = [...space(body.namespace).values()]
      .map((v) => ({ v, score: cosine(vector, v.values) }))
      .sort((a, b) => b.score - a.score || a.v.id.localeCompare(b.v.id))
      .slice(0, topK)
      .map(({ v, score }) => ({
        id: v.id,
        score,
        values: body.includeValues ? v.values : [],
        ...(body.includeMetadata && v.metadata ? { metadata: v.metadata } : {}),
      }));
    return { body: { matches, namespace: body.namespace ?? '', usage: { readUnits: 1 } } };
  }

  function remove(body: Record<string, unknown>): RouteResponse {
    const target = space(body.namespace);
    if (body.deleteAll === true) target.clear();
    else if (Array.isArray(body.ids)) {
      if (body.ids.length > PINECONE_LIMITS.maxDeleteIds) {
        return badRequest(`Cannot delete more than ${PINECONE_LIMITS.maxDeleteIds} ids at once`);
      }
      for (const id of body.ids) target.delete(String(id));
    } else return badRequest('ids, deleteAll or filter required (filters are not implemented)');
    return { body: {} };
  }

  function list(q: URLSearchParams): RouteResponse {
    const prefix = q.get('prefix') ?? '';
    const limit = Number(q.get('limit') ?? PINECONE_LIMITS.maxListLimit);
    if (!Number.isInteger(limit) || limit < 1 || limit > PINECONE_LIMITS.maxListLimit) {
      return badRequest('limit must be between 1 and 100');
    }
    const token = q.get('paginationToken');
    const start = token ? Number(Buffer.from(token, 'base64url').toString('utf8')) : 0;
    const ids = [...space(q.get('namespace')).keys()].filter((id) => id.startsWith(prefix)).sort();
    const page = ids.slice(start, start + limit);
    const next = start + limit < ids.length ? String(start + limit) : undefined;
    return {
      body: {
        vectors: page.map((id) => ({ id })),
        ...(next ? { pagination: { next: Buffer.from(next).toString('base64url') } } : {}),
        namespace: q.get('namespace') ?? '',
        usage: { readUnits: 1 },
      },
    };
  }

  function fetchVectors(q: URLSearchParams): RouteResponse {
    const target = space(q.get('namespace'));
    const vectors: Record<string, StoredVector> = {};
    for (const id of q.getAll('ids')) {
      const found = target.get(id);
      if (found) vectors[id] = found;
    }
    return { body: { vectors, namespace: q.get('namespace') ?? '', usage: { readUnits: 1 } } };
  }

  function stats(): Record<string, unknown> {
    const namespaces: Record<string, { vectorCount: number }> = {};
    let total = 0;
    for (const [name, vectors] of spaces) {
      if (vectors.size === 0) continue;
      namespaces[name] = { vectorCount: vectors.size };
      total += vectors.size;
    }
    return { namespaces, dimension: dimension ?? 0, indexFullness: 0, totalVectorCount: total };
  }

  function describeIndex(): Record<string, unknown> {
    return {
      name: indexName,
      host: server.origin,
      dimension: dimension ?? 64,
      metric: 'cosine',
      vector_type: 'dense',
      deletion_protection: 'disabled',
      status: { ready: true, state: 'Ready' },
      spec: { serverless: { cloud: 'aws', region: 'us-east-1' } },
    };
  }

  return {
    host: server.origin,
    controllerHostUrl: server.origin,
    calls: server.calls,
    requests: server.requests,
    get latencyMs() {
      return server.latencyMs;
    },
    set latencyMs(ms: number) {
      server.latencyMs = ms;
    },
    get clientAborts() {
      return server.clientAborts;
    },
    namespace: (name) => space(name),
    failNext: (route, ...behaviours) => server.failNext(route, ...behaviours),
    lastRequest: (route) => server.lastRequest(route),
    nextClientAbort: () => server.nextClientAbort(),
    nextRequest: (route) => server.nextRequest(route),
    close: () => server.close(),
  };
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function badRequest(message: string): RouteResponse {
  return { status: 400, body: { code: 3, message, details: [] } };
}

/** Pinecone's data-plane error shape (`rpcStatus`); a 401 is plain text, as Pinecone sends it. */
function errorResponse(status: number): RouteResponse {
  if (status === 401) return { status, body: 'Invalid API Key' };
  const codes: Record<number, number> = {
    400: 3,
    403: 7,
    404: 5,
    409: 6,
    429: 8,
    500: 13,
    503: 14,
  };
  return {
    status,
    body: { code: codes[status] ?? 2, message: `fake pinecone error ${status}`, details: [] },
  };
}
