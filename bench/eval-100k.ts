/**
 * Benchmark of a 100,000-case evaluation followed by the CLI (issue 13): `askq eval run` as a
 * real process, without `--with-worker` (the workers are deployed: an AskqWorker in this
 * process on instant in-process ports), so the CLI's memory is the cost of following,
 * recording and reporting alone. The CLI measured is the one a user runs, the package's `askq`
 * bin (dist/cli.js, compiled from this tree first); the same run from the TypeScript sources
 * (`npm run askq`) is reported beside it, since Node's type stripping at load adds memory the
 * build does not have. Samples the CLI's RSS as results land; then opens the
 * report.html it wrote in headless Chromium. Goals: CLI peak RSS ≤ 200 MB and flat from
 * 10,000 cases on; report.html ≤ 25 MB, interactive in ≤ 5 s, every failed case in it.
 *
 *   node bench/eval-100k.ts [--cases 100000] [--concurrency 200]
 *
 * Always starts a private redis-server (100,000 finished jobs are kept for resuming). Prints a
 * table, then one `BENCH_RESULT {json}` line for bench/run-all.ts.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { launchChromium } from '../test/support/browser.ts';
import { startBenchWorker } from './lib/askq.ts';
import { benchRedis } from './lib/bench-redis.ts';
import { type BenchResult, RESULT_MARKER } from './lib/bench-result.ts';
import { builtCli } from './lib/built-cli.ts';
import { instantPorts, questions as questionTexts } from './lib/instant-ports.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '100000' },
    concurrency: { type: 'string', default: '200' },
  },
});
const cases = Number(values.cases);
const concurrency = Number(values.concurrency);
/** Every 10th case expects a word no answer has: failed cases the report must show. */
const FAIL_EVERY = 10;

const benchStarted = performance.now();
const redis = await benchRedis('eval-100k');
const tmp = await mkdtemp(join(tmpdir(), 'askq-bench-eval-100k-'));
const env = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '/tmp',
  REDIS_URL: redis.url,
  ASKQ_PREFIX: `bench-eval-100k-${Date.now()}`,
  ASKQ_LOCAL_STORE_DIR: join(tmp, 'store'),
  // One source per answer keeps the 100,000 kept jobs in the private Redis small.
  ASKQ_TOP_K: '1',
  LOG_LEVEL: 'warn',
};
try {
  const worker = await startBenchWorker({
    env,
    ports: await instantPorts(300),
    concurrency,
  });
  const file = join(tmp, 'questions.jsonl');
  const texts = questionTexts(cases);
  await writeFile(
    file,
    texts
      .map((question, i) =>
        JSON.stringify({
          id: `c-${i}`,
          question,
          expected: i % FAIL_EVERY === 0 ? 'zzz-not-in-any-answer' : 'From doc-',
        }),
      )
      .join('\n'),
  );
  // What a user runs: the package's `askq` bin (dist/cli.js), built from this tree first.
  const out = join(tmp, 'run');
  const { wallS, peakKb, samples, stdout } = await runCli(await builtCli(), file, out);
  const summary = JSON.parse(stdout) as { completed: number; failed: number; passed: number };
  // The same command from the sources (`npm run askq -- eval run`), for the record: Node strips
  // the types of every module as it loads, which costs memory at start that the build does not.
  const fromSources = await runCli(join(ROOT, 'src/cli.ts'), file, join(tmp, 'run-src'));
  await worker.close(5000);
  const finalBytes = (await stat(join(out, 'results.jsonl'))).size;
  // Cases done at each sample, from the bytes written (lines are of near-equal size).
  const at = (n: number) =>
    samples.find((s) => (s.bytes / finalBytes) * cases >= n)?.rssMb ?? Number.NaN;
  const rssAt = (lo: number, hi: number) => {
    const inRange = samples.filter((s) => {
      const done = (s.bytes / finalBytes) * cases;
      return done >= lo && done < hi;
    });
    return inRange.length === 0 ? Number.NaN : Math.max(...inRange.map((s) => s.rssMb));
  };
  const tenth = Math.min(10_000, Math.floor(cases / 10));
  const early = rssAt(tenth, cases / 2);
  const late = rssAt(cases / 2, cases);
  // After the last result is written: summary.json, results.csv and report.html, each built by
  // streaming results.jsonl again. Reported on its own; the peak goal covers it.
  const afterLast = samples.filter((s) => s.bytes >= finalBytes).map((s) => s.rssMb);
  const finishing = afterLast.length === 0 ? Number.NaN : Math.max(...afterLast);
  const reportBytes = (await stat(join(out, 'report.html'))).size;

  // Open the report offline and time it until the first page of cases is on screen.
  const browser = await launchChromium(join(tmp, 'profile'));
  let openS = NaN;
  let failedShown = NaN;
  try {
    const page = await browser.newPage();
    const opened = performance.now();
    await page.goto(pathToFileURL(join(out, 'report.html')).href);
    await page
      .locator('#count', { hasText: `${cases} of ${cases} cases` })
      .waitFor({ timeout: 60_000 });
    openS = (performance.now() - opened) / 1000;
    await page.selectOption('#status', 'failed');
    failedShown = Number(
      /^(\d+) of/.exec((await page.locator('#count').textContent()) ?? '')?.[1] ?? NaN,
    );
    await page.close();
  } finally {
    await browser.close();
  }

  const mb = (n: number) => `${n.toFixed(0)} MB`;
  const rows: [string, string][] = [
    ['cases', String(cases)],
    ['completed (passed / failed)', `${summary.completed} (${summary.passed} / ${summary.failed})`],
    ['CLI wall, start to exit', `${wallS.toFixed(1)} s`],
    ['CLI peak RSS', mb(peakKb / 1024)],
    [
      'CLI peak RSS run from the sources (`npm run askq`, types stripped at load; not the goal)',
      `${mb(fromSources.peakKb / 1024)} (wall ${fromSources.wallS.toFixed(1)} s)`,
    ],
    [`CLI RSS max, ${tenth}–${cases / 2} cases`, mb(early)],
    [`CLI RSS max, ${cases / 2}–${cases} cases`, mb(late)],
    ['CLI RSS max after the last result (summary, CSV, report)', mb(finishing)],
    [
      'CLI RSS at 25% / 50% / 100% of results',
      `${mb(at(cases / 4))} / ${mb(at(cases / 2))} / ${mb(at(cases))}`,
    ],
    ['results.jsonl', `${(finalBytes / 1e6).toFixed(1)} MB`],
    ['report.html', `${(reportBytes / 1e6).toFixed(1)} MB`],
    ['report open to first page (Chromium)', `${openS.toFixed(2)} s`],
    ['failed cases listed in the report', String(failedShown)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  const flat = late <= early * 1.1 + 10;
  const result: BenchResult = {
    id: 'eval-100k',
    title: 'A 100,000-case evaluation followed by the CLI (`askq eval run`, deployed workers)',
    compares: `the real CLI process as installed (the package's \`askq\` bin, dist/cli.js, compiled from this tree by the benchmark) running ${cases} cases (\`askq eval run file.jsonl\`, no \`--with-worker\`) against an AskqWorker in the benchmark process on instant in-process ports (concurrency ${concurrency}, topK 1, contains-scoring, every ${FAIL_EVERY}th case failing), private redis-server. CLI RSS sampled from /proc every 250 ms against results written; peak from \`/usr/bin/time -v\`; report.html opened from disk in headless Chromium until the first page of cases shows.`,
    goal: 'CLI peak RSS ≤ 200 MB and flat from 10,000 cases on; report.html ≤ 25 MB, open in ≤ 5 s, every failed case listed',
    figures: [
      ...rows.map(([figure, measured]) => ({ figure, measured })),
      {
        figure: 'CLI peak RSS',
        goal: '≤ 200 MB',
        measured: mb(peakKb / 1024),
        kind: 'absolute',
        met: peakKb / 1024 <= 200,
      },
      {
        figure: 'CLI RSS, second half vs first (from 10,000 cases)',
        goal: 'flat (≤ +10% + 10 MB)',
        measured: `${mb(early)} → ${mb(late)}`,
        kind: 'absolute',
        met: flat,
      },
      {
        figure: 'report.html',
        goal: '≤ 25 MB',
        measured: `${(reportBytes / 1e6).toFixed(1)} MB`,
        kind: 'absolute',
        met: reportBytes <= 25e6,
      },
      {
        figure: 'report open',
        goal: '≤ 5 s',
        measured: `${openS.toFixed(2)} s`,
        kind: 'absolute',
        met: openS <= 5,
      },
      {
        figure: 'failed cases in the report',
        goal: String(summary.failed),
        measured: String(failedShown),
        kind: 'absolute',
        met: failedShown === summary.failed,
      },
    ],
    notes: [],
    seconds: (performance.now() - benchStarted) / 1000,
  };
  console.log(RESULT_MARKER + JSON.stringify(result));
} finally {
  await rm(tmp, { recursive: true, force: true });
  await redis.stop();
}

/** The CLI's pid: `/usr/bin/time` is the spawned process, the CLI its only child. */
function cliPid(timePid: number | undefined): number | undefined {
  if (timePid === undefined) return undefined;
  try {
    const children = readFileSync(`/proc/${timePid}/task/${timePid}/children`, 'utf8').trim();
    const pid = Number(children.split(/\s+/)[0]);
    return Number.isFinite(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `askq eval run` from `entry` under `/usr/bin/time -v` and samples its RSS from /proc
 * every 250 ms against the bytes of results.jsonl written so far.
 */
async function runCli(entry: string, file: string, out: string) {
  const started = performance.now();
  const child = spawn(
    '/usr/bin/time',
    ['-v', process.execPath, entry, 'eval', 'run', file, '--out', out, '--json'],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const samples: { bytes: number; rssMb: number }[] = [];
  const sampler = setInterval(() => {
    void sample();
  }, 250);
  async function sample() {
    const pid = cliPid(child.pid);
    if (pid === undefined) return;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      const bytes = (await stat(join(out, 'results.jsonl')).catch(() => ({ size: 0 }))).size;
      if (Number.isFinite(rssKb)) samples.push({ bytes, rssMb: rssKb / 1024 });
    } catch {
      // The process ended between two samples.
    }
  }
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(sampler);
  const wallS = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${entry} eval run exited ${code}: ${stderr.slice(-2000)}`);
  const peakKb = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1] ?? NaN);
  return { wallS, peakKb, samples, stdout };
}
