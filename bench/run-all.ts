/**
 * Runs every benchmark, one child process each (isolated heaps, JIT and handles; a benchmark
 * that fails or hangs does not take the others with it), prints a summary table and rewrites
 * BENCHMARKS.md with the machine, the command, the date and every figure.
 *
 *   npm run bench                       # everything, writes BENCHMARKS.md
 *   node bench/run-all.ts --only llm-scaling,redis-memory --no-write
 *   npm run bench -- --redis-url redis://host:6379   # an external Redis, where a benchmark can
 *
 * Each benchmark starts its own private redis-server unless `--redis-url` (passed on as
 * ASKQ_BENCH_REDIS_URL) names an external one; REDIS_URL and the other Redis variables of
 * this shell are not passed on at all (bench/lib/bench-redis.ts).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { format, resolveConfig } from 'prettier';

import { redactRedisUrl } from '../src/shared/redis-settings.ts';
import { BENCH_REDIS_ENV, PRIVATE_ONLY } from './lib/bench-redis.ts';
import {
  type BenchResult,
  formatFigures,
  metText,
  RESULT_MARKER,
  status,
} from './lib/bench-result.ts';
import { type CpuTimes, cpuTimes, type Machine, machineInfo, speedProbe } from './lib/machine.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** Every benchmark, in run order, with the time it may take before it is stopped. */
const BENCHMARKS: { id: string; timeoutS: number }[] = [
  { id: 'orchestration-overhead', timeoutS: 150 },
  // Four levels, then the top one again under the profiler: 133 s at a quiet hour, over 180 s
  // at a busy one (speed probe 165 ms against 89–101).
  { id: 'llm-scaling', timeoutS: 420 },
  { id: 'scale-out', timeoutS: 150 },
  { id: 'embeddings-batching', timeoutS: 90 },
  { id: 'answer-cache', timeoutS: 90 },
  { id: 'provider-limits', timeoutS: 90 },
  { id: 'redis-memory', timeoutS: 240 },
  { id: 'eval-run', timeoutS: 120 },
  { id: 'eval-100k', timeoutS: 900 },
  { id: 'http-enqueue', timeoutS: 90 },
];

interface Outcome {
  id: string;
  result?: BenchResult;
  error?: string;
  seconds: number;
}

/**
 * The benchmarks' environment: this one without any variable that names a Redis (REDIS_URL,
 * REDIS_*, ASKQ_REDIS_*, ASKQ_BENCH_REDIS_URL), plus ASKQ_BENCH_REDIS_URL when `--redis-url`
 * asks for an external Redis.
 */
function benchEnv(redisUrl: string | undefined): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(REDIS_|ASKQ_REDIS_)/.test(k) && k !== BENCH_REDIS_ENV,
    ),
  );
  return redisUrl ? { ...env, [BENCH_REDIS_ENV]: redisUrl } : env;
}

async function runOne(id: string, timeoutS: number, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const started = performance.now();
  const child = spawn(process.execPath, [fileURLToPath(new URL(`./${id}.ts`, import.meta.url))], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    const text = d.toString();
    out += text;
    for (const line of text.split('\n')) {
      if (line && !line.startsWith(RESULT_MARKER)) process.stdout.write(`  [${id}] ${line}\n`);
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    process.stderr.write(d);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  }, timeoutS * 1000);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  const line = out.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  if (line)
    return { id, result: JSON.parse(line.slice(RESULT_MARKER.length)) as BenchResult, seconds };
  const why = timedOut ? `stopped after ${timeoutS} s` : `exited with ${code}`;
  return { id, error: `${why}: ${err.trim().split('\n').slice(-8).join('\n')}`, seconds };
}

/** The header's sentence on which Redis the benchmarks ran against. */
function redisSentence(redisUrl: string | undefined): string {
  const privateOnly = Object.entries(PRIVATE_ONLY)
    .map(([id, why]) => `${id} (it ${why})`)
    .join(', ');
  return redisUrl
    ? `Redis: this run was given an external Redis (\`--redis-url\`), which every benchmark used except these, which start their own private redis-server (\`noeviction\`, no persistence) whatever they are given: ${privateOnly}. Fake servers run on 127.0.0.1.`
    : `Redis: each benchmark starts its own private redis-server (\`noeviction\`, no persistence) and fake servers on 127.0.0.1, and stops them; REDIS_URL and the other Redis variables of the shell are not passed to the benchmarks. \`npm run bench -- --redis-url <url>\` (or ASKQ_BENCH_REDIS_URL for one benchmark) runs them against an external Redis instead, except ${privateOnly}.`;
}

/** How fast the machine was: {@link speedProbe} at the run's start and end, and steal. */
interface Speed {
  start: ReturnType<typeof speedProbe>;
  end: ReturnType<typeof speedProbe>;
  /** Share of all cores' time the hypervisor took during the run; undefined off Linux. */
  steal: number | undefined;
}

function stealShare(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (!before || !after || after.total <= before.total) return undefined;
  return (after.steal - before.steal) / (after.total - before.total);
}

function speedSentence({ start, end, steal }: Speed): string {
  const probe = (p: Speed['start']) =>
    `${p.medianMs.toFixed(0)} ms (runs ${p.minMs.toFixed(0)}–${p.maxMs.toFixed(0)})`;
  return (
    `Speed: a fixed single-threaded JavaScript workload (\`speedProbe\` in bench/lib/machine.ts; median of 5 runs) took ${probe(start)} at the start and ${probe(end)} at the end` +
    (steal === undefined
      ? ''
      : `; the hypervisor took ${(steal * 100).toFixed(1)} % of the cores' time during the run (steal, /proc/stat)`) +
    ". This VM's speed moves with other tenants of its host, within seconds and between runs, and every _absolute_ figure moves with it: compare runs by their probe."
  );
}

function markdown(
  outcomes: Outcome[],
  machine: Machine,
  speed: Speed,
  command: string,
  totalS: number,
  redisUrl: string | undefined,
): string {
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`${command}\` (bench/run-all.ts) on ${date}; the whole run took ${Math.round(totalS)} s. Every figure below is from that one run; nothing is carried over from earlier runs. Each goal figure says what it is: _side-by-side_, a ratio of two things measured in the same run (robust to this shared machine's load), or _absolute_, a count, size, rate or time held against a fixed number (it drifts with the load). Figures are truncated or rounded against the goal, never in its favour.`,
    '',
    `Machine: \`nproc\` ${machine.cores}, ${machine.cpu}, ${machine.memoryGiB} GiB RAM, Node ${machine.node}, redis-server ${machine.redis}; load average at the start ${machine.loadAverage} (the VM is shared with other engineers' test runs).`,
    '',
    speedSentence(speed),
    '',
    redisSentence(redisUrl),
    '',
    '| benchmark | goal | measured | status |',
    '| --- | --- | --- | --- |',
    ...outcomes.map((o) => {
      // The error's last lines of output, kept on the table's one row.
      if (!o.result)
        return `| ${o.id} | | did not finish: ${esc(o.error ?? '').replace(/\s*\n\s*/g, '<br>')} | not measured |`;
      const goals = o.result.figures.filter((f) => f.met !== undefined);
      return `| [${o.result.title}](#${o.id}) | ${esc(o.result.goal)} | ${goals.map((f) => `${esc(f.figure)} (_${f.kind ?? 'kind not stated'}_): **${esc(f.measured)}**`).join('<br>') || '—'} | ${status(o.result)} |`;
    }),
    '',
  ];
  for (const o of outcomes) {
    lines.push(`<a id="${o.id}"></a>`, '');
    if (!o.result) {
      lines.push(`## ${o.id}`, '', `Not measured in this run: ${o.error ?? ''}`, '');
      continue;
    }
    const r = o.result;
    lines.push(
      `## ${r.title} (bench/${r.id}.ts)`,
      '',
      `\`node bench/${r.id}.ts\` — ${Math.round(r.seconds)} s. **Goal:** ${r.goal}. **Status: ${status(r)}.**`,
      '',
      `Compares: ${r.compares}`,
      '',
      '| figure | goal | measured | met |',
      '| --- | --- | --- | --- |',
      ...r.figures.map(
        (f) =>
          `| ${esc(f.figure)} | ${esc(f.goal ?? '')}${f.kind ? ` (_${f.kind}_)` : ''} | ${esc(f.measured)} | ${metText(f.met)} |`,
      ),
      '',
      ...r.notes.flatMap((n) => [n, '']),
      ...(r.extra ? [r.extra, ''] : []),
    );
  }
  return lines.join('\n');
}

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    'redis-url': { type: 'string' },
  },
});
const redisUrl = values['redis-url'];
const env = benchEnv(redisUrl);
const only = values.only?.split(',');
const selected = BENCHMARKS.filter((b) => !only || only.includes(b.id));
// A Redis URL's password never reaches the output or BENCHMARKS.md.
const args = process.argv.slice(2).map((a) => a.replace(/rediss?:\/\/\S+/, redactRedisUrl));
const command = `npm run bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;
const machine = machineInfo();
console.log(
  `askq benchmarks: ${selected.length} of ${BENCHMARKS.length}; ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, redis-server ${machine.redis}, load ${machine.loadAverage}`,
);
const speedAtStart = speedProbe();
const cpuAtStart = cpuTimes();
const t0 = performance.now();
const outcomes: Outcome[] = [];
for (const b of selected) {
  console.log(`\n▶ ${b.id}`);
  const outcome = await runOne(b.id, b.timeoutS, env);
  outcomes.push(outcome);
  if (outcome.result) console.log(formatFigures(outcome.result.figures));
  else console.log(`  ${b.id} did not finish: ${outcome.error}`);
}
const totalS = (performance.now() - t0) / 1000;
const speed: Speed = {
  start: speedAtStart,
  end: speedProbe(),
  steal: stealShare(cpuAtStart, cpuTimes()),
};
console.log(`\nSummary (${Math.round(totalS)} s): ${speedSentence(speed)}`);
const rows = outcomes.map((o) => [
  o.id,
  o.result ? status(o.result) : 'not measured',
  `${Math.round(o.seconds)} s`,
  o.result
    ? o.result.figures
        .filter((f) => f.met !== undefined)
        .map((f) => `${f.measured}${f.met ? '' : ' (goal ' + (f.goal ?? '') + ')'}`)
        .join('; ')
    : (o.error ?? ''),
]);
const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) {
  console.log(
    `${r
      .slice(0, 3)
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')}  ${r[3]}`,
  );
}
if (!values['no-write'] && !only) {
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  // Formatted as the repository's Prettier config would, so `prettier --check` stays clean.
  const text = await format(markdown(outcomes, machine, speed, command, totalS, redisUrl), {
    ...(await resolveConfig(file)),
    parser: 'markdown',
  });
  await writeFile(file, text);
  console.log('\nwrote BENCHMARKS.md');
} else if (!values['no-write']) {
  console.log('\nBENCHMARKS.md not written (--only runs a subset; it would drop the others).');
}
if (outcomes.some((o) => !o.result)) process.exitCode = 1;
