import { EventEmitter, once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The machinery both provider fakes share: a real HTTP server on 127.0.0.1, per-route call
 * counters and request logs, a runtime-settable latency and a queue of one-shot scripted
 * failures per route. Each fake only maps requests to routes and routes to answers.
 */

/** One scripted, one-shot behaviour, consumed by the next request to its route. */
export interface ScriptedBehaviour {
  /** Answer with this status (and {@link body}, else the fake's own error body for it). */
  status?: number;
  /** Extra response headers, e.g. `{ 'retry-after': '2' }`. */
  headers?: Record<string, string>;
  /** Response body; an object is sent as JSON, a string as text. */
  body?: unknown;
  /** Never answer; the request stays open until the client gives up or the server closes. */
  hang?: boolean;
  /** Destroy the socket without any response. */
  dropConnection?: boolean;
  /** Extra delay before this one answer, on top of the server's latency. */
  delayMs?: number;
  /**
   * Send the status line, headers and part of the body, then never finish: a provider that
   * stalls mid-body. Released by the client's abort or by close().
   */
  stallBody?: boolean;
}

/** Something the server saw, with its time; see {@link ScriptedHttpServerOptions.onTraffic}. */
export interface TrafficEvent<R extends string> {
  /** A request arrived; it answered (`status`); it dropped the socket; its client hung up first. */
  kind: 'request' | 'response' | 'dropped' | 'clientAbort';
  /** `undefined` for a path no route matches. */
  route: R | undefined;
  request: RecordedRequest;
  /** The status sent, for `response`. */
  status?: number;
  /** `Date.now()` when it happened. */
  at: number;
}

/** A request as the fake saw it. */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body; `undefined` when there was none. */
  body: unknown;
}

/** What a route handler answers. */
export interface RouteResponse {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON, a string as text. */
  body?: unknown;
  /** Server-sent events: each entry is written as `data: <entry>\n\n`. */
  events?: string[];
}

/** Maps a request to a route name, or `undefined` for 404. */
export type RouteMatcher<R extends string> = (method: string, path: string) => R | undefined;

export interface ScriptedHttpServerOptions<R extends string> {
  routes: readonly R[];
  match: RouteMatcher<R>;
  handle: (route: R, request: RecordedRequest) => RouteResponse | Promise<RouteResponse>;
  /** Error response for a scripted status without a body. */
  errorResponse: (status: number, request: RecordedRequest) => RouteResponse;
  /** Checked before scripted failures; returning a response rejects the request (e.g. 401). */
  authorize?: (request: RecordedRequest) => RouteResponse | undefined;
  /** Delay before every answer, in ms. @defaultValue 0 */
  latencyMs?: number;
  /** How many requests per route the log keeps. @defaultValue 50 */
  keepRequests?: number;
  /**
   * The behaviour of a request no one-shot {@link ScriptedHttpServer.failNext} script covers
   * (those win): seeded random faults, content-based faults, outages. `undefined` answers
   * normally. @defaultValue none
   */
  decide?: (route: R, request: RecordedRequest) => ScriptedBehaviour | undefined;
  /** Observes arrivals, answers and client aborts as they happen. Must not throw. @defaultValue none */
  onTraffic?: (event: TrafficEvent<R>) => void;
}

/** A running scripted server; see {@link startScriptedHttpServer}. */
export interface ScriptedHttpServer<R extends string> {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly origin: string;
  /** Requests received per route, including failed ones. */
  readonly calls: Record<R, number>;
  /** The last requests per route, oldest first. */
  readonly requests: Record<R, RecordedRequest[]>;
  /** Delay before every answer; settable at runtime. */
  latencyMs: number;
  /** Requests whose client closed the connection before the fake answered. */
  readonly clientAborts: number;
  /** Queues one-shot behaviours for the next requests to `route`, in order. */
  failNext(route: R, ...behaviours: ScriptedBehaviour[]): void;
  /** The last request to `route`. */
  lastRequest(route: R): RecordedRequest | undefined;
  /** Resolves at the next client abort (or at once if one happened since the last call). */
  nextClientAbort(): Promise<void>;
  /** Resolves when the next request to `route` has arrived (before it is answered). */
  nextRequest(route: R): Promise<RecordedRequest>;
  /** Stops listening and releases every open request, hung ones included. */
  close(): Promise<void>;
}

const DEFAULTS = { latencyMs: 0, keepRequests: 50 } satisfies Partial<
  ScriptedHttpServerOptions<string>
>;

/** Starts a scripted server on a free port of 127.0.0.1. */
export async function startScriptedHttpServer<R extends string>(
  options: ScriptedHttpServerOptions<R>,
): Promise<ScriptedHttpServer<R>> {
  const keep = options.keepRequests ?? DEFAULTS.keepRequests;
  const events = new EventEmitter();
  const calls = Object.fromEntries(options.routes.map((r) => [r, 0])) as Record<R, number>;
  const requests = Object.fromEntries(options.routes.map((r) => [r, []])) as unknown as Record<
    R,
    RecordedRequest[]
  >;
  const scripts = new Map<R, ScriptedBehaviour[]>();
  const pendingTimers = new Set<NodeJS.Timeout>();
  let unseenAborts = 0;

  const wait = (ms: number, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      if (ms <= 0) return resolve(true);
      const timer = setTimeout(() => {
        pendingTimers.delete(timer);
        resolve(true);
      }, ms);
      pendingTimers.add(timer);
      res.once('close', () => {
        clearTimeout(timer);
        pendingTimers.delete(timer);
        resolve(false);
      });
    });

  const server = createServer((req, res) => {
    void serve(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, { status: 500, body: { error: { message: String(err) } } });
      else res.destroy();
    });
  });

  const api: ScriptedHttpServer<R> = {
    origin: '',
    calls,
    requests,
    latencyMs: options.latencyMs ?? DEFAULTS.latencyMs,
    clientAborts: 0,
    failNext(route, ...behaviours) {
      scripts.set(route, [...(scripts.get(route) ?? []), ...behaviours]);
    },
    lastRequest(route) {
      return requests[route].at(-1);
    },
    async nextClientAbort() {
      if (unseenAborts === 0) await once(events, 'abort');
      unseenAborts = 0;
    },
    async nextRequest(route) {
      const [request] = (await once(events, `request:${route}`)) as [RecordedRequest];
      return request;
    },
    async close() {
      for (const timer of pendingTimers) clearTimeout(timer);
      pendingTimers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((err) => (err ? reject(err) : resolve())),
      );
    },
  };

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const raw = await readBody(req);
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: parseJson(raw),
    };
    const route = options.match(request.method, request.path);
    const observe = (kind: TrafficEvent<R>['kind'], status?: number) =>
      options.onTraffic?.({ kind, route, request, at: Date.now(), ...(status ? { status } : {}) });
    const reply = (answer: RouteResponse) => {
      send(res, answer);
      observe('response', answer.status ?? 200);
    };
    let dropped = false;
    res.once('close', () => {
      if (!res.writableFinished) {
        (api as { clientAborts: number }).clientAborts += 1;
        unseenAborts += 1;
        events.emit('abort');
        if (!dropped) observe('clientAbort');
      }
    });
    if (route === undefined) {
      return reply({ status: 404, body: { error: { message: `no route ${url.pathname}` } } });
    }
    calls[route] += 1;
    requests[route].push(request);
    if (requests[route].length > keep) requests[route].shift();
    events.emit(`request:${route}`, request);
    observe('request');

    const denied = options.authorize?.(request);
    if (denied) return reply(denied);

    const script = scripts.get(route)?.shift() ?? options.decide?.(route, request);
    if (!(await wait(api.latencyMs + (script?.delayMs ?? 0), res))) return;
    if (script?.hang) return; // released by the client's abort or by close()
    if (script?.dropConnection) {
      dropped = true;
      observe('dropped');
      res.socket?.destroy();
      return;
    }
    if (script?.status !== undefined) {
      const fallback = options.errorResponse(script.status, request);
      return reply({
        status: script.status,
        headers: { ...fallback.headers, ...script.headers },
        body: script.body ?? fallback.body,
      });
    }
    const answer = await options.handle(route, request);
    const headers = { ...answer.headers, ...script?.headers };
    if (script?.stallBody) return stall(res, { ...answer, headers });
    reply({ ...answer, headers });
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  (api as { origin: string }).origin = `http://127.0.0.1:${port}`;
  return api;
}

function send(res: ServerResponse, answer: RouteResponse): void {
  if (res.destroyed) return;
  const status = answer.status ?? 200;
  if (answer.events) {
    res.writeHead(status, { 'content-type': 'text/event-stream', ...answer.headers });
    for (const event of answer.events) res.write(`data: ${event}\n\n`);
    res.end();
    return;
  }
  const isText = typeof answer.body === 'string';
  const payload =
    answer.body === undefined ? '' : isText ? String(answer.body) : JSON.stringify(answer.body);
  res.writeHead(status, {
    'content-type': isText ? 'text/plain' : 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...answer.headers,
  });
  res.end(payload);
}

/** Sends the head and about half of the body, then nothing more (see `stallBody`). */
function stall(res: ServerResponse, answer: RouteResponse): void {
  if (res.destroyed) return;
  const status = answer.status ?? 200;
  if (answer.events) {
    res.writeHead(status, { 'content-type': 'text/event-stream', ...answer.headers });
    res.write(`data: ${answer.events[0] ?? ''}\n\n`);
    return;
  }
  const payload = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...answer.headers,
  });
  res.write(payload.slice(0, Math.floor(payload.length / 2)));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(raw: string): unknown {
  if (raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
