/**
 * The `askq` command line, loaded by the entry point src/cli.ts once the compile cache is on.
 * Commands are imported when run, so `askq config` or `askq ask` never load the worker's
 * providers (LanceDB, LangChain).
 */
import { existsSync, readFileSync } from 'node:fs';

import { Command, Option } from 'commander';

import { type Config, ConfigError, loadConfig, redactConfig } from '../shared/config.ts';
import { AskqError, ValidationError } from '../shared/errors.ts';
import type { ServiceName, TelemetryHandle } from '../shared/telemetry/start-telemetry.ts';
import { unknownVariables } from '../shared/unknown-variables.ts';
import { rate, usd, variant } from './eval-options.ts';
import { EXIT, exitCodeOf } from './exit-codes.ts';
import { intInRange, seconds } from './options.ts';
import type { RunAskOptions } from './run-ask.ts';
import type { RunEvalOptions } from './run-eval.ts';
import type { RunEvalCompareOptions } from './run-eval-compare.ts';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

let configLoaded: Config | undefined;

/**
 * The configuration, parsed once (after `.env`, see {@link loadDotEnv}): a warning for each
 * unknown `ASKQ_*` variable, and exit code 2 listing every problem when a value is bad.
 */
function config(): Config {
  if (configLoaded) return configLoaded;
  for (const { name, closest } of unknownVariables())
    process.stderr.write(
      `askq: warning: ${name} is not a variable askq reads; did you mean ${closest}?\n`,
    );
  try {
    configLoaded = loadConfig();
    return configLoaded;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT.invalid);
    }
    throw err;
  }
}

/** The configuration of a command that needs Redis: stops with exit code 3 when none answers. */
async function connected(): Promise<Config> {
  const { requireRedis } = await import('./require-redis.ts');
  return requireRedis(config());
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('askq')
    .description('Queue-driven batch worker for LLM question answering (BullMQ + LangChain.js)')
    .version(VERSION, '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('worker')
    .description('run a worker: answers questions and ingests documents from the queue')
    .option(
      '-c, --concurrency <n>',
      'jobs at once (default ASKQ_CONCURRENCY)',
      intInRange(1, 10_000),
    )
    .action(async (opts: { concurrency?: number }) => {
      const { runWorker } = await import('./run-worker.ts');
      await runWorker(config(), opts);
    });

  program
    .command('ingest')
    .description(
      'chunk, embed and upsert .txt, .md, .jsonl, .html, .pdf and .docx files through the queue',
    )
    .argument('<path...>', 'files or folders')
    .option('-n, --namespace <ns>', 'vector store namespace (default ASKQ_NAMESPACE)')
    .option(
      '--sync',
      'make the namespace mirror one folder: ingest new and changed files, delete gone ones',
    )
    .option('--with-worker', 'run a worker in this process (self-contained)')
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        paths: string[],
        opts: { namespace?: string; withWorker?: boolean; json?: boolean; sync?: boolean },
      ) => {
        const { runIngest } = await import('./run-ingest.ts');
        code = await runIngest(await connected(), paths, opts);
      },
    );

  program
    .command('ask')
    .description('enqueue one question')
    .argument('<question>', 'the question (1..8000 characters)')
    .option('-w, --wait', 'wait for the answer and print it')
    .option('--json', 'print the result (job.returnvalue) as JSON')
    .option('-n, --namespace <ns>', 'vector store namespace')
    .option('-k, --top-k <k>', 'sources to retrieve', intInRange(1, 50))
    .option(
      '--full-sources',
      "the result carries each source's whole chunk text (default: an excerpt of ASKQ_SOURCE_TEXT_CHARS)",
    )
    .addOption(
      new Option('-t, --timeout <seconds>', 'how long --wait waits')
        .argParser(seconds)
        .default(120),
    )
    .action(async (question: string, opts: RunAskOptions) => {
      const { runAsk } = await import('./run-ask.ts');
      code = await runAsk(await connected(), question, opts);
    });

  const failed = program
    .command('failed')
    .description('inspect and retry questions that failed for good (dead letters)');
  failed
    .command('list')
    .description('failed questions, newest first, with reason, attempts and error class')
    .option('-l, --limit <n>', 'how many', intInRange(1, 100_000), 100)
    .option('--json', 'print as JSON')
    .action(async (opts: { limit: number; json?: boolean }) => {
      const { runFailedList } = await import('./run-failed.ts');
      code = await runFailedList(await connected(), opts);
    });
  failed
    .command('retry')
    .description('move failed questions back to waiting with a fresh attempt budget')
    .argument('[id...]', 'job ids')
    .option('--all', 'every failed question')
    .action(async (ids: string[], opts: { all?: boolean }) => {
      if (!opts.all && ids.length === 0) {
        throw new ValidationError('name the job ids to retry, or pass --all');
      }
      if (opts.all && ids.length > 0)
        throw new ValidationError('pass either ids or --all, not both');
      const { runFailedRetry } = await import('./run-failed.ts');
      code = await runFailedRetry(await connected(), ids, opts);
    });

  program
    .command('serve')
    .description('run the HTTP API and Bull Board (no worker code is loaded)')
    .option('-p, --port <port>', 'port to listen on (default PORT)', intInRange(0, 65_535))
    .action(async (opts: { port?: number }) => {
      const { runServe } = await import('./run-serve.ts');
      code = await runServe(config(), opts);
    });

  program
    .command('config')
    .description('print the effective configuration, secrets redacted')
    .action(() => {
      process.stdout.write(`${JSON.stringify(redactConfig(config()), null, 2)}\n`);
    });

  const evaluation = program
    .command('eval')
    .description('evaluate question files through the queue: run, status, report, compare');
  evaluation
    .command('run')
    .description('run a question file (JSONL, CSV, JSON) through the queue and score the answers')
    .argument('[file]', 'question file (not with --resume / --retry-errors)')
    .option('-o, --out <dir>', 'output folder (default .askq/runs/<runId>)')
    .option('--with-worker', 'run a worker in this process (self-contained run)')
    .option('-c, --concurrency <n>', 'in-process worker concurrency', intInRange(1, 10_000))
    .option('--detach', 'enqueue and return; follow later with `askq eval status <runId>`')
    .option('--resume <runId>', 'continue a run: enqueue only the cases with no result')
    .option('--retry-errors <runId>', 'run the cases of a run that ended in error again')
    .option('--fail-under <rate>', 'exit 1 when the pass rate is below (0.8 or 80%)', rate)
    .option('--max-cost <usd>', 'stop enqueueing once the estimated spend passes this', usd)
    .option('--strict', 'stop at the first invalid row instead of skipping it')
    .option('-n, --namespace <ns>', 'vector store namespace')
    .option('-k, --top-k <k>', 'sources to retrieve', intInRange(1, 50))
    .option(
      '--grader <model>',
      'grader model for judge and the RAG metrics (default ASKQ_GRADER_MODEL; must be allowed)',
    )
    .option(
      '--variant <name:json>',
      'run every case also with these settings (model, temperature, topK, namespace, systemPrompt); repeatable',
      variant,
    )
    .option(
      '--repeat <n>',
      'run every case (and variant) n times and report the spread',
      intInRange(1, 100),
    )
    .option(
      '--allow-degraded',
      'score answers a fallback gave while a dependency was down (default: count them as errors)',
    )
    .option('--junit <file>', 'also write JUnit XML (one testcase per case and variant)')
    .option('--batch', 'answer through the OpenAI Batch API: half the price, within 24 h')
    .option('--online', 'answer with chat completions (overrides ASKQ_EVAL_MODE=batch)')
    .addOption(
      new Option(
        '--batch-fallback <lane>',
        "where a batch's unanswered cases go (429/5xx, expired)",
      )
        .choices(['batch', 'online'])
        .default('batch'),
    )
    .option('--json', 'print the summary as JSON')
    .action(async (file: string | undefined, opts: RunEvalOptions) => {
      const { runEvalCommand } = await import('./run-eval.ts');
      code = await runEvalCommand(connected, file, opts);
    });
  evaluation
    .command('status')
    .description("a run's counts and state, at once (enqueues nothing); --follow waits for the end")
    .argument('<run>', 'run id or run folder')
    .option('-f, --follow', 'wait, showing progress, until the run ends; then write its results')
    .option('--with-worker', 'with --follow: run a worker in this process')
    .option('-c, --concurrency <n>', 'in-process worker concurrency', intInRange(1, 10_000))
    .option('--fail-under <rate>', 'with --follow: exit 1 when the pass rate is below', rate)
    .option('--json', 'print the status (with --follow: the summary) as JSON')
    .action(async (run: string, opts: RunEvalOptions) => {
      if (opts.follow || opts.withWorker || opts.failUnder !== undefined) {
        const { runEvalCommand } = await import('./run-eval.ts');
        code = await runEvalCommand(connected, run, opts, 'status');
      } else {
        const { runEvalStatus } = await import('./run-eval-status.ts');
        code = await runEvalStatus(await connected(), run, opts);
      }
    });
  evaluation
    .command('cancel')
    .description(
      "cancel every unfinished case of a run on every worker, and a batch run's open batches; resume it later",
    )
    .argument('<run>', 'run id or run folder')
    .option('--json', 'print what was cancelled as JSON')
    .action(async (run: string, opts: { json?: boolean }) => {
      const { runEvalCancel } = await import('./run-eval-cancel.ts');
      code = await runEvalCancel(config(), run, opts);
    });
  evaluation
    .command('report')
    .description("rebuild a run's summary.json, results.csv and report.html from results.jsonl")
    .argument('<run>', 'run id or run folder')
    .option('--junit <file>', 'also write JUnit XML (one testcase per case and variant)')
    .action(async (run: string, opts: { junit?: string }) => {
      const { runEvalReport } = await import('./run-eval-compare.ts');
      code = await runEvalReport(config(), run, opts);
    });
  evaluation
    .command('compare')
    .description(
      'compare run b against run a: differences with 95% CIs, McNemar on pass/fail flips, regressions',
    )
    .argument('<a>', 'baseline run id or folder (`<run>@<variant>` for one variant)')
    .argument('<b>', 'run id or folder to compare (`<run>@<variant>` for one variant)')
    .option('--html <path>', 'also write the comparison as an HTML page')
    .option('--json', 'print the comparison as JSON')
    .option(
      '--fail-on-regression',
      'exit 1 when a metric or the pass rate drops significantly (or by more than --max-drop)',
    )
    .option('--alpha <p>', 'significance level of --fail-on-regression (default 0.05)', rate)
    .option('--max-drop <x>', 'also fail on any drop larger than this (0.05 or 5%)', rate)
    .action(async (a: string, b: string, opts: RunEvalCompareOptions) => {
      const { runEvalCompare } = await import('./run-eval-compare.ts');
      code = await runEvalCompare(config(), a, b, opts);
    });

  program
    .command('demo')
    .description('ingest examples/ and answer the example questions on the embedded default')
    .action(async () => {
      const { runDemo } = await import('./run-demo.ts');
      code = await runDemo(config());
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander says exitCode 0 for --help, `help` and --version; a usage error is 2 here.
      return e.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    }
    const exitCode = exitCodeOf(err);
    if (exitCode === undefined) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ValidationError) process.stderr.write(`askq: invalid input: ${message}\n`);
    else if (err instanceof AskqError) process.stderr.write(`askq: ${message}\n`);
    else process.stderr.write(`askq: Redis is unreachable: ${message}\n`);
    return exitCode;
  }
  return code;
}

/** Which service a command's spans belong to; undefined: no telemetry for it. */
function serviceFor(argv: string[]): ServiceName | undefined {
  const command = argv[2];
  if (
    command === undefined ||
    command === 'config' ||
    command === 'help' ||
    command.startsWith('-')
  )
    return undefined;
  if (command === 'worker') return 'askq-worker';
  if (command === 'serve') return 'askq-api';
  return 'askq-cli';
}

/**
 * Reads `.env` in the working directory before anything reads the environment (telemetry
 * too); a variable already set in the real environment wins over the file.
 */
function loadDotEnv(): void {
  try {
    if (existsSync('.env')) process.loadEnvFile('.env');
  } catch (err) {
    process.stderr.write(`askq: cannot read .env: ${(err as Error).message}\n`);
    process.exit(EXIT.invalid);
  }
}

/**
 * The Node SDK when something leaves the process (an OTLP endpoint, the metrics endpoint);
 * otherwise local tracing only, which makes the same spans and trace ids at a fraction of the
 * SDK's memory (a CLI following a 100,000-case run counts every megabyte).
 */
async function startTelemetryFor(
  service: ServiceName,
  metrics: Awaited<ReturnType<typeof metricsEndpoint>>,
): Promise<TelemetryHandle> {
  const local = await import('../shared/telemetry/start-local-tracing.ts');
  if (process.env.OTEL_SDK_DISABLED === 'true') return { enabled: false, shutdown: async () => {} };
  if (!metrics && !local.exportsTelemetry(process.env)) return local.startLocalTracing();
  const { startTelemetry, otlpProtocolWarnings } =
    await import('../shared/telemetry/start-telemetry.ts');
  for (const warning of otlpProtocolWarnings(process.env))
    process.stderr.write(`askq: warning: ${warning}\n`);
  return startTelemetry(service, process.env, metrics ? [metrics.endpoint.reader] : []);
}

async function run(argv: string[]): Promise<number> {
  loadDotEnv();
  const service = serviceFor(argv);
  const metrics = service === 'askq-worker' ? await metricsEndpoint() : undefined;
  // Before anything else runs, so every span of the command is recorded; loaded only when used.
  const telemetry = service ? await startTelemetryFor(service, metrics) : undefined;
  try {
    if (metrics) {
      const { port, host } = metrics;
      const url = await metrics.endpoint.listen(port, host).catch((err: Error) => {
        throw new ValidationError(`cannot serve metrics on ${host}:${port}: ${err.message}`);
      });
      process.stderr.write(`askq: metrics at ${url} (JSON: ${url}.json)\n`);
    }
    return await main(argv);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    process.stderr.write(`askq: invalid input: ${err.message}\n`);
    return EXIT.invalid;
  } finally {
    await metrics?.endpoint.close();
    // Flush spans (e.g. the producer span of `askq ask`) before the process exits.
    await telemetry?.shutdown();
  }
}

/** The worker's Prometheus endpoint when ASKQ_METRICS_PORT asks for one. */
async function metricsEndpoint() {
  const { ASKQ_METRICS_PORT: port, ASKQ_METRICS_HOST: host } = config();
  if (port === undefined) return undefined;
  const { MetricsEndpoint } = await import('../shared/telemetry/metrics-endpoint.ts');
  return { endpoint: new MetricsEndpoint(), port, host };
}

run(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `askq: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
