import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

import { SECRET_KEYS } from '../../src/shared/config.ts';

// No Docker engine on the dev machines: the deployment files are checked by parsing them.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(`${ROOT}${file}`, 'utf8');
// `<<` merge keys, as compose resolves them.
const readYaml = (file: string): unknown => parse(read(file), { merge: true });

const words = z.union([
  z.string().transform((s) => s.split(/\s+/).filter(Boolean)),
  z.array(z.string()),
]);
const serviceSchema = z.looseObject({
  image: z.string().optional(),
  build: z
    .union([z.string(), z.looseObject({ context: z.string(), dockerfile: z.string().optional() })])
    .optional(),
  command: words.optional(),
  environment: z
    .union([
      z.array(z.string()),
      z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
    ])
    .optional(),
  ports: z.array(z.union([z.string(), z.number()])).default([]),
  volumes: z.array(z.string()).default([]),
  healthcheck: z.looseObject({ test: words, disable: z.boolean().optional() }).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
  deploy: z.looseObject({ replicas: z.number().optional() }).optional(),
  container_name: z.string().optional(),
});
const compose = z
  .object({
    services: z.record(z.string(), serviceSchema),
    volumes: z.record(z.string(), z.unknown().nullable()).default({}),
  })
  .parse(readYaml('docker-compose.yml'));

const pipelineSchema = z.object({
  receivers: z.array(z.string()).min(1),
  processors: z.array(z.string()).default([]),
  exporters: z.array(z.string()).min(1),
});
const collector = z
  .object({
    receivers: z.record(z.string(), z.unknown()),
    processors: z.record(z.string(), z.unknown()).default({}),
    exporters: z.record(z.string(), z.unknown()),
    extensions: z.record(z.string(), z.unknown()).default({}),
    service: z.looseObject({
      extensions: z.array(z.string()).default([]),
      pipelines: z.record(z.string(), pipelineSchema),
      telemetry: z.unknown(),
    }),
  })
  .parse(readYaml('otel-collector.yaml'));

function service(name: string) {
  const s = compose.services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** A service's environment as a map, whichever of compose's two forms it uses. */
function env(name: string): Record<string, string | undefined> {
  const e = service(name).environment ?? {};
  if (Array.isArray(e))
    return Object.fromEntries(
      e.map((kv) => [kv.split('=')[0], kv.split('=').slice(1).join('=') || undefined]),
    );
  return Object.fromEntries(
    Object.entries(e).map(([k, v]) => [k, v === null ? undefined : String(v)]),
  );
}

/** Host ports a service publishes (`127.0.0.1:6379:6379` → 6379, `3000:3000` → 3000). */
function publishedPorts(name: string): number[] {
  return service(name).ports.map((p) => Number(String(p).split('/')[0]?.split(':').at(-1)));
}

/** `host:port` of a collector listener, from its `endpoint` setting. */
function endpointOf(value: unknown): { host: string; port: number } {
  const endpoint = z.object({ endpoint: z.string() }).parse(value).endpoint;
  const [host = '', port = ''] = endpoint.split(':');
  return { host, port: Number(port) };
}

const SECRET_NAME = /_KEYS?$|PASSWORD|SECRET|TOKEN/;

describe('docker-compose.yml', () => {
  it('runs redis, the collector, jaeger, the api and the worker', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      ['api', 'jaeger', 'otel-collector', 'redis', 'worker'].sort(),
    );
  });

  it.each([
    ['api', 'serve'],
    ['worker', 'worker'],
  ])('%s is built from the Dockerfile and runs `askq %s`', (name, command) => {
    const { build, command: args } = service(name);
    const spec = typeof build === 'string' ? { context: build } : build;
    expect(spec, `${name} has no build`).toBeDefined();
    expect(existsSync(`${ROOT}${spec?.context ?? ''}/${spec?.dockerfile ?? 'Dockerfile'}`)).toBe(
      true,
    );
    expect(spec?.dockerfile ?? 'Dockerfile').toBe('Dockerfile');
    expect(args).toEqual([command]);
    expect(read('src/cli/main.ts')).toContain(`.command('${command}')`);
  });

  it('api and worker share one image', () => {
    expect(service('api').image).toBeDefined();
    expect(service('worker').image).toBe(service('api').image);
  });

  it('runs two worker replicas that can coexist', () => {
    const worker = service('worker');
    expect(worker.deploy?.replicas).toBe(2);
    // A fixed name or host port would stop the second replica from starting.
    expect(worker.container_name).toBeUndefined();
    expect(worker.ports).toEqual([]);
  });

  it('runs redis 7 with AOF every second, noeviction, a health check and a volume', () => {
    const redis = service('redis');
    expect(redis.image).toMatch(/^redis:7(\b|$)/);
    const command = (redis.command ?? []).join(' ');
    expect(command).toMatch(/--appendonly\s+yes\b/);
    expect(command).toMatch(/--appendfsync\s+everysec\b/);
    expect(command).toMatch(/--maxmemory-policy\s+noeviction\b/);
    expect(redis.healthcheck?.test).toEqual(expect.arrayContaining(['redis-cli', 'ping']));
    expect(redis.volumes.some((v) => v.split(':')[1] === '/data')).toBe(true);
  });

  it.each(['api', 'worker'])(
    '%s waits for a healthy redis and reaches it by service name',
    (name) => {
      expect(service(name).depends_on?.redis?.condition).toBe('service_healthy');
      expect(new URL(env(name).REDIS_URL ?? '').hostname).toBe('redis');
    },
  );

  it.each([
    ['api', 'askq-api'],
    ['worker', 'askq-worker'],
  ])('%s sends OTLP/HTTP to the collector as %s', (name, serviceName) => {
    const url = new URL(env(name).OTEL_EXPORTER_OTLP_ENDPOINT ?? '');
    expect(url.protocol).toBe('http:');
    expect(url.hostname).toBe('otel-collector');
    expect(Number(url.port)).toBe(endpointOf(otlpProtocols().http).port);
    expect(env(name).OTEL_SERVICE_NAME).toBe(serviceName);
  });

  it('mounts otel-collector.yaml where the collector reads its config, and publishes OTLP', () => {
    const otel = service('otel-collector');
    expect(otel.image).toMatch(/^otel\/opentelemetry-collector-contrib:/);
    const mount = otel.volumes.find((v) => v.split(':')[0] === './otel-collector.yaml');
    expect(mount).toBeDefined();
    expect((otel.command ?? []).join(' ')).toContain(`--config=${mount?.split(':')[1]}`);
    expect(publishedPorts('otel-collector')).toEqual(expect.arrayContaining([4317, 4318]));
  });

  it('runs Jaeger v2 with its UI on 16686, which Bull Board links to', () => {
    expect(service('jaeger').image).toMatch(/^jaegertracing\/jaeger:2\./);
    expect(publishedPorts('jaeger')).toContain(16686);
    expect(Number(new URL(env('api').ASKQ_JAEGER_URL ?? '').port)).toBe(16686);
  });

  it('publishes the api on 3000 with a /healthz health check on the port it listens on', () => {
    expect(publishedPorts('api')).toContain(3000);
    const test = (service('api').healthcheck?.test ?? []).join(' ');
    expect(test).toContain(`:${env('api').PORT ?? 3000}/healthz`);
  });

  it('gives the worker replicas one named volume as their local store', () => {
    const dir = env('worker').ASKQ_LOCAL_STORE_DIR;
    const mount = service('worker').volumes.find((v) => v.split(':')[1] === dir);
    expect(mount, `no volume at ASKQ_LOCAL_STORE_DIR=${dir}`).toBeDefined();
    expect(Object.keys(compose.volumes)).toContain(mount?.split(':')[0]);
  });

  it('passes the provider settings through to the worker from the environment', () => {
    for (const name of [
      'OPENAI_API_KEY',
      'OPENAI_BASE_URL',
      'PINECONE_API_KEY',
      'PINECONE_INDEX',
    ]) {
      expect(env('worker')[name], name).toMatch(new RegExp(`^\\$\\{${name}(:?[-?][^}]*)?\\}$`));
    }
  });

  it('requires the API keys and Bull Board credentials instead of defaulting them', () => {
    for (const name of ['ASKQ_API_KEYS', 'ASKQ_BOARD_USER', 'ASKQ_BOARD_PASSWORD']) {
      expect(env('api')[name], name).toMatch(new RegExp(`^\\$\\{${name}:\\?[^}]+\\}$`));
    }
  });

  it('hard-codes no secret: every secret variable is a ${…} reference to itself', () => {
    const checked: string[] = [];
    for (const name of Object.keys(compose.services)) {
      for (const [key, value] of Object.entries(env(name))) {
        if (!SECRET_NAME.test(key) && !(SECRET_KEYS as readonly string[]).includes(key)) continue;
        checked.push(key);
        expect(value, `${name}.${key}`).toMatch(new RegExp(`^\\$\\{${key}(:?[-?][^}]*)?\\}$`));
      }
    }
    expect(checked).toEqual(
      expect.arrayContaining(['ASKQ_API_KEYS', 'ASKQ_BOARD_PASSWORD', 'OPENAI_API_KEY']),
    );
  });
});

function otlpProtocols() {
  return z
    .object({ protocols: z.object({ grpc: z.unknown(), http: z.unknown() }) })
    .parse(collector.receivers.otlp).protocols;
}

/** A component's type: `otlp/jaeger` → `otlp`. */
const typeOf = (id: string) => id.split('/')[0];

/** A redaction regex (Go RE2) as a JS RegExp; RE2 has no lookaround or backreferences. */
function re2(pattern: string): RegExp {
  expect(pattern).not.toMatch(/\(\?<?[=!]|\\[1-9]/);
  const insensitive = pattern.startsWith('(?i)');
  return new RegExp(insensitive ? pattern.slice(4) : pattern, insensitive ? 'i' : '');
}

describe('otel-collector.yaml', () => {
  const pipelines = Object.entries(collector.service.pipelines);

  it('has a traces and a metrics pipeline', () => {
    expect(Object.keys(collector.service.pipelines).sort()).toEqual(['metrics', 'traces']);
  });

  it.each(pipelines)('defines every component the %s pipeline names', (_name, pipeline) => {
    for (const id of pipeline.receivers) expect(collector.receivers, id).toHaveProperty([id]);
    for (const id of pipeline.processors) expect(collector.processors, id).toHaveProperty([id]);
    for (const id of pipeline.exporters) expect(collector.exporters, id).toHaveProperty([id]);
    for (const id of collector.service.extensions)
      expect(collector.extensions, id).toHaveProperty([id]);
  });

  it.each(pipelines)('%s: memory_limiter first, then batch', (_name, pipeline) => {
    expect(pipeline.processors[0]).toBe('memory_limiter');
    expect(pipeline.processors.map(typeOf)).toContain('batch');
  });

  it('serves the metrics it receives on a Prometheus endpoint the host can scrape', () => {
    const prometheus = collector.service.pipelines.metrics?.exporters.find(
      (id) => typeOf(id) === 'prometheus',
    );
    expect(prometheus).toBeDefined();
    const { endpoint } = z
      .object({ endpoint: z.string() })
      .parse(collector.exporters[prometheus ?? '']);
    const port = Number(endpoint.split(':').at(-1));
    expect(publishedPorts('otel-collector')).toContain(port);
  });

  it('receives OTLP over gRPC on 4317 and HTTP on 4318 on every interface', () => {
    expect(endpointOf(otlpProtocols().grpc)).toEqual({ host: '0.0.0.0', port: 4317 });
    expect(endpointOf(otlpProtocols().http)).toEqual({ host: '0.0.0.0', port: 4318 });
  });

  const redactionId = () =>
    collector.service.pipelines.traces?.processors.find((id) => typeOf(id) === 'redaction');
  const redaction = () =>
    z
      .object({
        allow_all_keys: z.boolean().default(false),
        allowed_keys: z.array(z.string()).default([]),
        blocked_key_patterns: z.array(z.string()).default([]),
        blocked_values: z.array(z.string()).default([]),
      })
      .parse(collector.processors[redactionId() ?? '']);

  it('redacts traces before batching, keeping attribute keys', () => {
    const processors = collector.service.pipelines.traces?.processors ?? [];
    expect(redactionId()).toBeDefined();
    expect(processors.indexOf(redactionId() ?? '')).toBeLessThan(processors.indexOf('batch'));
    // With allow_all_keys false and no allowed_keys, the processor deletes every attribute.
    expect(redaction().allow_all_keys || redaction().allowed_keys.length > 0).toBe(true);
  });

  it('masks secret-looking values but not ids, model names or token counts', () => {
    const values = redaction().blocked_values.map(re2);
    const masked = (v: string) => values.some((r) => r.test(v));
    for (const secret of [
      'sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123',
      'Bearer abcdefghijklmnop0123',
      'redis://:hunter2hunter2@redis:6379',
      'pcsk_3x4mpl3K3yV4lu3_0123456789abcdef',
    ]) {
      expect(masked(secret), secret).toBe(true);
    }
    for (const safe of [
      'gpt-4o-mini',
      'text-embedding-3-small',
      '4bf92f3577b34da6a3ce929d0e0e4736',
      'redis://redis:6379',
      'eval:run-1:q-42',
    ]) {
      expect(masked(safe), safe).toBe(false);
    }
    const keys = redaction().blocked_key_patterns.map(re2);
    const blocked = (k: string) => keys.some((r) => r.test(k));
    expect(blocked('http.request.header.authorization')).toBe(true);
    expect(blocked('askq.api_key')).toBe(true);
    for (const key of [
      'gen_ai.usage.input_tokens',
      'gen_ai.usage.output_tokens',
      'gen_ai.request.model',
      'messaging.message.id',
    ]) {
      expect(blocked(key), key).toBe(false);
    }
  });

  it('exports traces to the jaeger service over plaintext OTLP/gRPC, and metrics elsewhere', () => {
    const jaeger = collector.service.pipelines.traces?.exporters.filter((id) =>
      ['otlp', 'otlp_grpc'].includes(typeOf(id) ?? ''),
    );
    expect(jaeger).toHaveLength(1);
    const id = jaeger?.[0] ?? '';
    const exporter = z
      .object({ endpoint: z.string(), tls: z.object({ insecure: z.boolean() }) })
      .parse(collector.exporters[id]);
    const [host, port] = exporter.endpoint.replace(/^https?:\/\//, '').split(':');
    expect(host).toBe('jaeger');
    expect(compose.services).toHaveProperty(['jaeger']);
    expect(port).toBe('4317');
    expect(exporter.tls.insecure).toBe(true);
    expect(collector.service.pipelines.traces?.exporters).toContain('debug');
    // Jaeger takes no metrics.
    expect(collector.service.pipelines.metrics?.exporters).not.toContain(id);
  });
});

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [op = '', ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

describe('Dockerfile', () => {
  const all = instructions(read('Dockerfile'));
  const starts = all.flatMap((ins, i) => (ins.op === 'FROM' ? [i] : []));
  const stages = starts.map((start, i) => all.slice(start, starts[i + 1]));
  const runtime = stages.at(-1) ?? [];
  const runs = (stage: typeof all) =>
    stage
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
  const last = (op: string) => runtime.filter((i) => i.op === op).at(-1)?.args;

  it('builds in at least two stages, all on node:24-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage[0]?.args).toMatch(/^node:24-slim(\s+AS\s+\S+)?$/i);
  });

  it('compiles with npm run build and ships production dependencies only', () => {
    expect(runs(stages[0] ?? [])).toMatch(/npm ci\b[\s\S]*npm run build/);
    const install = runs(runtime);
    expect(install).toMatch(/npm ci\b[^\n]*--omit=dev/);
    // `prepare` runs tsc, a dev dependency that is not installed here.
    expect(install).toMatch(/npm ci\b[^\n]*--ignore-scripts/);
    expect(install).not.toMatch(/--omit=optional|--no-optional/); // LanceDB's native package
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    expect(copies).toEqual(
      expect.arrayContaining([expect.stringMatching(/^--from=\S+ \S*dist\S* /)]),
    );
    for (const dir of ['schemas', 'examples'])
      expect(copies.some((c) => c.startsWith(`${dir} `))).toBe(true);
  });

  it('runs as a user that is not root', () => {
    const user = last('USER');
    expect(user).toBeDefined();
    expect(user?.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('has a health check', () => {
    expect(last('HEALTHCHECK')).toMatch(/\bCMD\b.*\/healthz/);
  });

  it('starts the askq bin, as a worker by default', () => {
    const pkg = z
      .object({ bin: z.object({ askq: z.string() }) })
      .parse(JSON.parse(read('package.json')));
    expect(JSON.parse(last('ENTRYPOINT') ?? 'null')).toEqual([
      'node',
      pkg.bin.askq.replace(/^\.\//, ''),
    ]);
    expect(JSON.parse(last('CMD') ?? 'null')).toEqual(['worker']);
  });

  it('keeps local state and secrets out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(
      expect.arrayContaining(['node_modules', 'dist', '.askq', 'test-artifacts', '.git', '.env']),
    );
  });
});
