import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An OTLP/HTTP receiver that reads and drops every body, answering 200: the cost of export on
 * the sender's side stays real (serialisation, HTTP) while the receiver costs next to nothing.
 * test/support/otlp-sink.ts parses every span, which would bill its CPU to the benchmark.
 */
export interface DiscardSink {
  readonly url: string;
  readonly requests: { traces: number; metrics: number; other: number };
  readonly bytes: number;
  /** Bytes of trace export bodies only (no metrics). */
  readonly traceBytes: number;
  close(): Promise<void>;
}

export async function startDiscardSink(): Promise<DiscardSink> {
  const requests = { traces: 0, metrics: 0, other: 0 };
  let bytes = 0;
  let traceBytes = 0;
  const server = createServer((req, res) => {
    const traces = req.url?.startsWith('/v1/traces') ?? false;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      if (traces) traceBytes += c.length;
    });
    req.on('end', () => {
      if (traces) requests.traces += 1;
      else if (req.url?.startsWith('/v1/metrics')) requests.metrics += 1;
      else requests.other += 1;
      // An empty export response in the request's encoding: full success.
      if (req.headers['content-type']?.startsWith('application/x-protobuf')) {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get bytes() {
      return bytes;
    },
    get traceBytes() {
      return traceBytes;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
