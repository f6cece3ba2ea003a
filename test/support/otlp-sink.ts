import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import {
  type sendUnaryData,
  Server as GrpcServer,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import protobuf from 'protobufjs';

/** One exported span, flattened from OTLP/HTTP JSON. */
export interface SinkSpan {
  service: string;
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  /** Spans this one links to (other traces). */
  links: { traceId: string; spanId: string }[];
  status: { code?: number; message?: string };
}

/**
 * An in-process OTLP receiver, what a collector would get: OTLP/HTTP (protobuf or JSON, by
 * content type) and, when asked for, OTLP/gRPC on a port of its own.
 */
export interface OtlpSink {
  /** Base URL, for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly url: string;
  /** The gRPC receiver's URL (`{ grpc: true }`), for OTEL_EXPORTER_OTLP_ENDPOINT with `grpc`. */
  readonly grpcUrl: string | undefined;
  readonly spans: SinkSpan[];
  /** Trace requests received, by encoding (gRPC carries protobuf). */
  readonly traceRequests: { protobuf: number; json: number; grpc: number };
  /** Metrics export requests received over gRPC (their content is not decoded). */
  readonly grpcMetricRequests: number;
  /** Every request body received, raw (for the canary grep; protobuf bodies as UTF-8 text). */
  readonly raw: string[];
  /** Resolves once `predicate` holds for the spans received so far (checked on each arrival). */
  waitFor(predicate: (spans: SinkSpan[]) => boolean, timeoutMs?: number): Promise<SinkSpan[]>;
  close(): Promise<void>;
}

/**
 * The part of opentelemetry-proto's trace service a test reads (trace/v1/trace.proto,
 * common/v1/common.proto; field numbers as there). Decoding skips the fields left out.
 * protobufjs names fields in camelCase, as OTLP/JSON does, so both decode to one shape.
 */
const TRACE_PROTO = `
syntax = "proto3";
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { repeated Span spans = 2; }
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  repeated KeyValue attributes = 9;
  repeated Event events = 11;
  repeated Link links = 13;
  Status status = 15;
}
message Event { string name = 2; repeated KeyValue attributes = 3; }
message Link { bytes trace_id = 1; bytes span_id = 2; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
`;
const ExportTraceServiceRequest = protobuf
  .parse(TRACE_PROTO)
  .root.lookupType('ExportTraceServiceRequest');

/** A decoded protobuf request in OTLP/JSON's shape (ids as hex, int64 as numbers). */
function decodeTraces(body: Buffer): TracesBody {
  const message = ExportTraceServiceRequest.decode(body);
  return ExportTraceServiceRequest.toObject(message, { longs: Number }) as TracesBody;
}

/** A trace or span id: hex in OTLP/JSON, bytes in protobuf. */
function hexId(id: string | Uint8Array | undefined): string {
  if (id === undefined) return '';
  return typeof id === 'string' ? id : Buffer.from(id).toString('hex');
}

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
};
type OtlpKeyValue = { key: string; value: OtlpValue };

function value(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(value);
  return undefined;
}

function attrs(list: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, value(kv.value)]));
}

interface TracesBody {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] };
    scopeSpans?: {
      spans?: {
        name: string;
        kind: number;
        traceId: string | Uint8Array;
        spanId: string | Uint8Array;
        parentSpanId?: string | Uint8Array;
        attributes?: OtlpKeyValue[];
        events?: { name: string; attributes?: OtlpKeyValue[] }[];
        links?: { traceId: string | Uint8Array; spanId: string | Uint8Array }[];
        status?: { code?: number; message?: string };
      }[];
    }[];
  }[];
}

/** A unary gRPC method taking and returning raw bytes (the sink decodes them itself). */
function rawUnary(path: string) {
  const same = (b: Buffer) => b;
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: same,
    requestDeserialize: same,
    responseSerialize: same,
    responseDeserialize: same,
  };
}

/** opentelemetry-proto's collector services, as their paths on the wire. */
const TRACE_SERVICE = {
  Export: rawUnary('/opentelemetry.proto.collector.trace.v1.TraceService/Export'),
} as ServiceDefinition;
const METRICS_SERVICE = {
  Export: rawUnary('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'),
} as ServiceDefinition;

export async function startOtlpSink(options: { grpc?: boolean } = {}): Promise<OtlpSink> {
  const spans: SinkSpan[] = [];
  const raw: string[] = [];
  const traceRequests = { protobuf: 0, json: 0, grpc: 0 };
  let grpcMetricRequests = 0;
  const waiters = new Set<() => void>();
  const collect = (parsed: TracesBody) => {
    for (const rs of parsed.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          spans.push({
            service,
            name: s.name,
            kind: s.kind,
            traceId: hexId(s.traceId),
            spanId: hexId(s.spanId),
            parentSpanId: hexId(s.parentSpanId),
            attributes: attrs(s.attributes),
            events: (s.events ?? []).map((e) => ({
              name: e.name,
              attributes: attrs(e.attributes),
            })),
            links: (s.links ?? []).map((l) => ({
              traceId: hexId(l.traceId),
              spanId: hexId(l.spanId),
            })),
            status: s.status ?? {},
          });
        }
      }
    }
  };
  const received = () => {
    for (const w of waiters) w();
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const isProtobuf = req.headers['content-type']?.startsWith('application/x-protobuf') ?? false;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      raw.push(body.toString('utf8'));
      if (req.url?.startsWith('/v1/traces')) {
        traceRequests[isProtobuf ? 'protobuf' : 'json'] += 1;
        try {
          collect(
            isProtobuf ? decodeTraces(body) : (JSON.parse(body.toString('utf8')) as TracesBody),
          );
        } catch {
          // A body we cannot parse is kept in `raw` only.
        }
      }
      // An empty ExportTraceServiceResponse in the request's encoding: full success.
      if (isProtobuf) res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      received();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let grpc: GrpcServer | undefined;
  let grpcUrl: string | undefined;
  if (options.grpc) {
    grpc = new GrpcServer();
    // An empty Export*ServiceResponse (no bytes): full success.
    grpc.addService(TRACE_SERVICE, {
      Export: (call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => {
        traceRequests.grpc += 1;
        raw.push(call.request.toString('utf8'));
        try {
          collect(decodeTraces(call.request));
        } catch {
          // Kept in `raw` only.
        }
        done(null, Buffer.alloc(0));
        received();
      },
    });
    grpc.addService(METRICS_SERVICE, {
      Export: (_call: ServerUnaryCall<Buffer, Buffer>, done: sendUnaryData<Buffer>) => {
        grpcMetricRequests += 1;
        done(null, Buffer.alloc(0));
        received();
      },
    });
    const server = grpc;
    const grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    grpcUrl = `http://127.0.0.1:${grpcPort}`;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    grpcUrl,
    spans,
    traceRequests,
    get grpcMetricRequests() {
      return grpcMetricRequests;
    },
    raw,
    waitFor(predicate, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (predicate(spans)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(spans);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `spans not received in ${timeoutMs} ms; have: ${spans.map((s) => s.name).join(', ')}`,
            ),
          );
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    async close() {
      grpc?.forceShutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
