import { execFile, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { classifyProviderError } from '../../../src/shared/classify-provider-error.ts';
import { TransientError } from '../../../src/shared/errors.ts';
import { nodeHttpFetch } from '../../../src/worker/providers/openai/node-http-fetch.ts';
import { OpenAIChat } from '../../../src/worker/providers/openai/openai-chat.ts';
import { startFakeOpenAI } from '../../support/fake-openai-server.ts';
import { release, track } from '../../support/resources.ts';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A plain node:http server whose handler each test sets. */
describe('nodeHttpFetch against a real HTTP server', () => {
  let server: http.Server;
  let origin: string;
  let handler: Handler;
  const requests: { req: IncomingMessage; body: string }[] = [];

  beforeAll(async () => {
    server = track(
      http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks).toString();
          requests.push({ req, body });
          handler(req, body, res);
        });
      }),
      'http server',
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
    release(server);
  });
  beforeEach(() => {
    requests.length = 0;
    handler = (_req, _body, res) => res.end('ok');
  });

  it('sends the method, every form of headers and a string or byte body', async () => {
    const forms: RequestInit['headers'][] = [
      new Headers({ 'X-One': '1', authorization: 'Bearer k' }),
      [
        ['X-One', '1'],
        ['x-one', '2'],
        ['authorization', 'Bearer k'],
      ],
      { 'X-One': '1', authorization: 'Bearer k' },
    ];
    for (const headers of forms) {
      await nodeHttpFetch(`${origin}/a?b=1`, { method: 'post', headers, body: '{"é":1}' });
    }
    await nodeHttpFetch(`${origin}/bytes`, { method: 'PUT', body: new Uint8Array([104, 105]) });

    expect(requests.map(({ req }) => `${req.method} ${req.url}`)).toEqual([
      'POST /a?b=1',
      'POST /a?b=1',
      'POST /a?b=1',
      'PUT /bytes',
    ]);
    expect(requests.map(({ req }) => req.headers['x-one'])).toEqual(['1', '1, 2', '1', undefined]);
    expect(requests[0]?.req.headers.authorization).toBe('Bearer k');
    // Byte length, not string length: the body has a two-byte character.
    expect(requests[0]?.req.headers['content-length']).toBe('8');
    expect(requests[0]?.body).toBe('{"é":1}');
    expect(requests[3]?.body).toBe('hi');
    // undici's fetch adds this header; its absence shows the request went through node:http.
    expect(requests[0]?.req.headers['sec-fetch-mode']).toBeUndefined();
  });

  it('returns a Response with status, text, repeated headers and a readable body', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(429, 'Too Many', [
        ['retry-after', '2'],
        ['x-multi', 'a'],
        ['x-multi', 'b'],
        ['set-cookie', 'one=1'],
        ['set-cookie', 'two=2'],
        ['content-type', 'application/json'],
      ]);
      res.end('{"error":{"message":"slow down"}}');
    };
    const res = await nodeHttpFetch(`${origin}/r`);
    expect(res).toBeInstanceOf(Response);
    expect([res.status, res.statusText, res.ok]).toEqual([429, 'Too Many', false]);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(res.headers.getSetCookie()).toEqual(['one=1', 'two=2']);
    expect(await res.json()).toEqual({ error: { message: 'slow down' } });
  });

  it('reads a whole body once, as fetch does: decoded like fetch, then used and locked', async () => {
    // A byte order mark, which fetch's UTF-8 decoding drops.
    handler = (_req, _body, res) => res.end('\ufeff{"n":1}');
    const res = await nodeHttpFetch(`${origin}/once`);
    expect(res.bodyUsed).toBe(false);
    expect(await res.json()).toEqual({ n: 1 });
    expect(res.bodyUsed).toBe(true);
    await expect(res.text()).rejects.toThrow(TypeError);
    expect(res.body?.locked).toBe(true);

    const other = await nodeHttpFetch(`${origin}/clone`);
    const copy = other.clone();
    expect(await copy.text()).toBe('{"n":1}');
    expect(await other.json()).toEqual({ n: 1 });
    await expect(other.arrayBuffer()).rejects.toThrow(TypeError);

    const streamed = await nodeHttpFetch(`${origin}/stream`);
    const chunk = await streamed.body!.getReader().read();
    expect(Buffer.from(chunk.value!).toString()).toBe('\ufeff{"n":1}');
    await expect(streamed.json()).rejects.toThrow(TypeError);

    const bytes = await (await nodeHttpFetch(`${origin}/bytes`)).arrayBuffer();
    expect(Buffer.from(bytes).toString()).toBe('\ufeff{"n":1}');
  });

  it('gives a 204 an empty body and decodes a gzip-encoded reply', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(204);
      res.end();
    };
    const empty = await nodeHttpFetch(`${origin}/empty`, { method: 'DELETE' });
    expect([empty.status, empty.body]).toEqual([204, null]);

    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
      res.end(gzipSync('squeezed'));
    };
    expect(await (await nodeHttpFetch(`${origin}/gz`)).text()).toBe('squeezed');
  });

  it('keeps the connection alive between requests', async () => {
    for (let i = 0; i < 3; i += 1) await (await nodeHttpFetch(`${origin}/k`)).text();
    expect(new Set(requests.map(({ req }) => req.socket)).size).toBe(1);
  });

  it('follows a redirect the way fetch does', async () => {
    handler = (req, body, res) => {
      if (req.url === '/old') {
        res.writeHead(307, { location: '/new' });
        res.end();
      } else res.end(`${req.method} ${req.url} ${body}`);
    };
    const res = await nodeHttpFetch(`${origin}/old`, { method: 'POST', body: 'again' });
    expect(await res.text()).toBe('POST /new again');
  });

  it('hands an event stream over as it arrives', async () => {
    let finish!: () => void;
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      finish = () => res.end('data: [DONE]\n\n');
    };
    const res = await nodeHttpFetch(`${origin}/sse`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    // The first event is readable while the server still holds the rest back.
    expect(decoder.decode((await reader.read()).value)).toBe('data: first\n\n');
    finish();
    expect(decoder.decode((await reader.read()).value)).toBe('data: [DONE]\n\n');
    expect((await reader.read()).done).toBe(true);
  });

  it('an abort mid-request destroys the request and rejects with an AbortError', async () => {
    const controller = new AbortController();
    const serverSawClose = new Promise<void>((resolve) => {
      handler = (_req, _body, res) => {
        res.on('close', () => resolve());
        controller.abort();
      };
    });
    const err = await nodeHttpFetch(`${origin}/hang`, {
      method: 'POST',
      body: 'x',
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DOMException);
    expect((err as DOMException).name).toBe('AbortError');
    await serverSawClose;
  });

  it('an abort while an event stream arrives errors the stream with the reason', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
    };
    const controller = new AbortController();
    const res = await nodeHttpFetch(`${origin}/sse`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort(new Error('cancelled by the job'));
    await expect(reader.read()).rejects.toThrow('cancelled by the job');
  });

  it('an already aborted signal rejects without a request', async () => {
    const err = await nodeHttpFetch(`${origin}/never`, { signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).toBe('AbortError');
    expect(requests).toHaveLength(0);
  });

  it('a header node:http refuses rejects the promise instead of throwing', async () => {
    const call = () => nodeHttpFetch(`${origin}/bad`, { headers: { 'x-bad': 'a\nb' } });
    await expect(call()).rejects.toThrow(/x-bad/);
    expect(requests).toHaveLength(0);
  });

  it('a connection closed halfway through the body is a network failure', async () => {
    handler = (_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"partial":', () => res.destroy());
    };
    const err = await nodeHttpFetch(`${origin}/cut`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('fetch failed');
    expect(classifyProviderError(err, 'chat')).toBeInstanceOf(TransientError);
  });
});

describe('nodeHttpFetch failures as the provider classifier sees them', () => {
  it('a refused connection rejects like fetch and classifies as transient', async () => {
    const closed = await startFakeOpenAI();
    const url = closed.url;
    await closed.close();

    const raw = await nodeHttpFetch(`${url}/chat/completions`).catch((e: unknown) => e);
    expect(raw).toBeInstanceOf(TypeError);
    expect(((raw as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');

    const chat = new OpenAIChat({ apiKey: 'sk-test', baseURL: url, model: 'gpt-4o-mini' });
    const err = await chat.answer({ question: 'q?', context: [] }).catch((e: unknown) => e);
    const classified = classifyProviderError(err, 'chat');
    expect(classified).toBeInstanceOf(TransientError);
    expect(classified.message).toContain('ECONNREFUSED');
  });
});

const TLS = selfSignedCertificate();

describe.skipIf(!TLS)('nodeHttpFetch over https (certificate made with the openssl CLI)', () => {
  let server: https.Server;
  let origin: string;

  beforeAll(async () => {
    server = track(
      https.createServer({ key: TLS!.key, cert: TLS!.cert }, (_req, res) => res.end('secure')),
      'https server',
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
    release(server);
    rmSync(TLS!.dir, { recursive: true, force: true });
  });

  it('verifies the certificate: an unknown one is a network failure', async () => {
    const err = await nodeHttpFetch(`${origin}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe(
      'DEPTH_ZERO_SELF_SIGNED_CERT',
    );
  });

  it('answers over TLS when the certificate is trusted (NODE_EXTRA_CA_CERTS)', async () => {
    const module = new URL(
      '../../../src/worker/providers/openai/node-http-fetch.ts',
      import.meta.url,
    ).href;
    const script = `const { nodeHttpFetch } = await import(${JSON.stringify(module)});
      const res = await nodeHttpFetch(${JSON.stringify(origin)});
      process.stdout.write(res.status + ' ' + (await res.text()));`;
    // Trusted roots are read once at process start, hence a process of its own (run
    // asynchronously: this process serves its request).
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', script],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: TLS!.certPath }, encoding: 'utf8' },
    );
    expect(stdout).toBe('200 secure');
  });
});

/** A self-signed certificate for 127.0.0.1 made with the openssl CLI, or none without it. */
function selfSignedCertificate():
  { key: Buffer; cert: Buffer; certPath: string; dir: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'askq-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    const certPath = join(dir, 'cert.pem');
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(certPath), certPath, dir };
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}
