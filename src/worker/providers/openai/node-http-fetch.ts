import http from 'node:http';
import https from 'node:https';
import { Readable, type Transform } from 'node:stream';
import zlib from 'node:zlib';

/**
 * A `fetch` for the openai SDK's `fetch` option over node:http and node:https: what the SDK
 * sends per call (a method, a Headers object, a JSON string body, an AbortSignal) and what it
 * reads back (status, headers, `json()`/`text()`, the body stream for SSE) without undici's
 * WHATWG request machinery, which cost about a third of the worker's CPU per job at 500 calls
 * in flight (docs/ARCHITECTURE.md, "Providers").
 *
 * It keeps fetch's contract where the SDK relies on it: a connection failure rejects with
 * `TypeError('fetch failed', { cause })` carrying the socket error (its `code`, e.g.
 * `ECONNREFUSED`), as undici does; an abort destroys the request and rejects with the signal's
 * reason (a DOMException named `AbortError` unless the caller gave another), which the SDK
 * reports as a timeout or a user abort. Anything it does not handle itself goes to the global
 * fetch unchanged: a `Request` object, a body other than a string or bytes (the SDK's
 * multipart uploads, streams), an undici `dispatcher`, and redirects (re-sent through fetch,
 * which follows them as the caller's `redirect` mode says).
 *
 * Differences a caller could see: it asks for no compression (`Accept-Encoding` is only sent
 * if the caller sets it, and a compressed reply is still decoded), `Response.url` is empty,
 * and a reply's body is read whole before the promise resolves unless it is an event stream
 * (`text/event-stream`), which is handed over as it arrives. A body read whole is decoded from
 * its bytes ({@link BufferedResponse}) rather than through a WHATWG stream.
 */
export function nodeHttpFetch(
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const body = init?.body;
  if (
    input instanceof Request ||
    !(body == null || typeof body === 'string' || body instanceof Uint8Array) ||
    (init as { dispatcher?: unknown } | undefined)?.dispatcher !== undefined
  ) {
    return fetch(input, init);
  }
  // Inside the executor, a bad URL or header rejects the promise instead of throwing.
  return new Promise<Response>((resolve, reject) => {
    const url = typeof input === 'string' ? new URL(input) : input;
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') {
      resolve(fetch(input, init));
      return;
    }
    const signal = init?.signal ?? undefined;
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = outgoingHeaders(init?.headers);
    if (body != null) {
      headers['content-length'] = String(
        typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
      );
    }
    let settled = false;
    let response: http.IncomingMessage | undefined;
    const fail = (err: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      reject(err);
    };
    const succeed = (value: Response | Promise<Response>) => {
      settled = true;
      resolve(value);
    };
    const onAbort = () => {
      const reason = abortReason(signal!);
      // Destroying with the reason errors a body already handed over (an event stream) too.
      const error = reason instanceof Error ? reason : undefined;
      response?.destroy(error);
      request.destroy(error);
      fail(reason);
    };

    const request = (secure ? https : http).request(
      url,
      {
        method,
        headers,
        agent: secure ? HTTPS_AGENT : HTTP_AGENT,
      },
      (res) => {
        response = res;
        res.on('error', (err) => fail(networkError(err)));
        const status = res.statusCode ?? 0;
        if (REDIRECT.has(status) && res.headers.location && init?.redirect !== 'manual') {
          signal?.removeEventListener('abort', onAbort);
          res.destroy();
          succeed(fetch(input, init));
          return;
        }
        const decoder = DECODERS[res.headers['content-encoding']?.toLowerCase() ?? ''];
        const decoded: Readable = decoder ? res.pipe(decoder()) : res;
        if (decoder) decoded.on('error', (err) => fail(networkError(err)));
        const responseInit = {
          status,
          statusText: res.statusMessage ?? '',
          headers: incomingHeaders(res.rawHeaders),
        };
        if (NULL_BODY.has(status) || method === 'HEAD') {
          signal?.removeEventListener('abort', onAbort);
          res.resume();
          succeed(new Response(null, responseInit));
          return;
        }
        if (res.headers['content-type']?.startsWith('text/event-stream')) {
          // The signal listener stays: an abort while the events arrive ends the stream.
          res.once('end', () => signal?.removeEventListener('abort', onAbort));
          succeed(new Response(Readable.toWeb(decoded) as ReadableStream, responseInit));
          return;
        }
        const chunks: Buffer[] = [];
        decoded.on('data', (chunk: Buffer) => chunks.push(chunk));
        decoded.on('end', () => {
          if (settled) return;
          signal?.removeEventListener('abort', onAbort);
          const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
          succeed(new BufferedResponse(bytes, responseInit));
        });
        // A connection closed before the whole body came is an error, not a short body.
        res.on('close', () => {
          if (!res.complete) {
            fail(
              networkError(Object.assign(new Error('other side closed'), { code: 'ECONNRESET' })),
            );
          }
        });
      },
    );
    request.on('error', (err) => fail(networkError(err)));
    signal?.addEventListener('abort', onAbort, { once: true });
    request.end(body ?? undefined);
  });
}

/** What BufferedResponse defines itself over a Response. */
type BodyMembers =
  | 'headers'
  | 'body'
  | 'bodyUsed'
  | 'json'
  | 'text'
  | 'arrayBuffer'
  | 'bytes'
  | 'blob'
  | 'formData'
  | 'clone';
/** Response's constructor, typed without those members so a subclass may define them. */
type PlainResponse = new (body: null, init: ResponseInit) => Omit<Response, BodyMembers>;

/** UTF-8 as fetch decodes a body (a leading byte order mark dropped, bad bytes replaced). */
const UTF8 = new TextDecoder();

/**
 * A Response over a body node:http has already read whole. `json()`, `text()`,
 * `arrayBuffer()` and `bytes()` decode those bytes directly: `new Response(bytes)` would wrap
 * them in a ReadableStream that the SDK's `json()` then reads back chunk by chunk, about
 * 20 µs of CPU and a dozen objects per call (bench/llm-scaling.ts, issue 16). Anything that
 * needs the stream itself (`body`, `blob()`, `formData()`, `clone()`) gets a plain Response
 * over the same bytes, made on first use and used for every read after it; reading a body
 * twice fails as fetch's does.
 */
class BufferedResponse extends (Response as unknown as PlainResponse) {
  readonly #bytes: Buffer;
  readonly #headers: Headers;
  #used = false;
  #plain: Response | undefined;

  constructor(bytes: Buffer, init: { status: number; statusText: string; headers: Headers }) {
    super(null, { status: init.status, statusText: init.statusText });
    this.#bytes = bytes;
    this.#headers = init.headers;
  }

  get headers(): Headers {
    return this.#headers;
  }

  get body(): Response['body'] {
    return this.#stream().body;
  }

  get bodyUsed(): boolean {
    return this.#used || (this.#plain?.bodyUsed ?? false);
  }

  json(): Promise<unknown> {
    if (this.#plain) return this.#plain.json();
    return this.#read(() => JSON.parse(UTF8.decode(this.#bytes)) as unknown);
  }

  text(): Promise<string> {
    if (this.#plain) return this.#plain.text();
    return this.#read(() => UTF8.decode(this.#bytes));
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    if (this.#plain) return this.#plain.arrayBuffer();
    return this.#read(() => this.#copy().buffer);
  }

  bytes(): ReturnType<Response['bytes']> {
    if (this.#plain) return this.#plain.bytes();
    return this.#read(() => this.#copy());
  }

  blob(): Promise<Blob> {
    return this.#stream().blob();
  }

  formData(): Promise<FormData> {
    return this.#stream().formData();
  }

  clone(): Response {
    return this.#stream().clone();
  }

  /** Reads the bytes once, as a body is read: a second read rejects with fetch's TypeError. */
  #read<T>(decode: () => T): Promise<T> {
    if (this.#used) {
      return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
    }
    this.#used = true;
    try {
      return Promise.resolve(decode());
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  /** A copy the caller may keep and change, as fetch's arrayBuffer() gives. */
  #copy(): Uint8Array<ArrayBuffer> {
    const copy = new Uint8Array(this.#bytes.byteLength);
    copy.set(this.#bytes);
    return copy;
  }

  /** The plain Response over the bytes; a body read already is read in it too (locked, used). */
  #stream(): Response {
    if (!this.#plain) {
      this.#plain = new Response(this.#bytes, {
        status: this.status,
        statusText: this.statusText,
        headers: this.#headers,
      });
      if (this.#used) void this.#plain.arrayBuffer();
    }
    return this.#plain;
  }
}

/**
 * Node's global agents' settings (keep-alive, a 5 s idle timeout, and HTTP(S)_PROXY when
 * NODE_USE_ENV_PROXY asks for it, as it does for the global fetch), on agents of our own that
 * keep every idle socket: like undici's, no cap on sockets per origin, so 500 calls in flight
 * reuse 500 connections instead of reopening those beyond the default 256 free ones.
 */
const HTTP_AGENT = new http.Agent({ ...optionsOf(http.globalAgent), maxFreeSockets: Infinity });
const HTTPS_AGENT = new https.Agent({ ...optionsOf(https.globalAgent), maxFreeSockets: Infinity });

/** The options an agent was made with (public, undeclared in @types/node). */
function optionsOf(agent: http.Agent): http.AgentOptions {
  return (agent as http.Agent & { options: http.AgentOptions }).options;
}

const REDIRECT = new Set([301, 302, 303, 307, 308]);
/** Statuses a Response may not have a body for (the constructor throws otherwise). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const DECODERS: Record<string, () => Transform> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/** The signal's reason, as fetch rejects with it; a DOMException `AbortError` if it has none. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** What undici's fetch rejects with for a network failure, so messages and codes stay as before. */
function networkError(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

/** Request headers for node:http from any of fetch's forms (Headers, pairs, a record). */
function outgoingHeaders(init: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (init === undefined) return out;
  if (init instanceof Headers) {
    init.forEach((value, name) => {
      out[name] = value;
    });
    return out;
  }
  const pairs: Iterable<readonly [string, string]> = Array.isArray(init)
    ? (init as [string, string][])
    : Object.entries(init as Record<string, string>);
  for (const [rawName, value] of pairs) {
    const name = rawName.toLowerCase();
    const previous = out[name];
    // Repeated names join as Headers joins them; a record cannot repeat one.
    out[name] = previous === undefined ? String(value) : `${previous}, ${String(value)}`;
  }
  return out;
}

/** Response headers from node's raw list, each repeated header kept (`set-cookie` included). */
function incomingHeaders(raw: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}
