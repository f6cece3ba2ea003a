#!/usr/bin/env node
import { Command, Option } from 'commander';

// Commands are imported when run, so `askq config` or `askq ask` never load the worker's
// providers (LanceDB, LangChain).
import { rate, usd } from './cli/eval-options.ts';
import { intInRange, seconds } from './cli/options.ts';
import type { RunAskOptions } from './cli/run-ask.ts';
import type { RunEvalOptions } from './cli/run-eval.ts';
import type { RunEvalCompareOptions } from './cli/run-eval-compare.ts';
import { type Config, ConfigError, loadConfig, redactConfig } from './shared/config.ts';
import { AskqError, ValidationError } from './shared/errors.ts';
import type { ServiceName } from './shared/telemetry/start-telemetry.ts';

/** Exit codes: 0 ok, 1 failure, 2 bad input (configuration, flags, question). */
const EXIT_INVALID = 2;

function config(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT_INVALID);
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = new Command('askq')
    .description('Queue-driven batch worker for LLM question answering (BullMQ + LangChain.js)')
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
      const { runWorker } = await import('./cli/run-worker.ts');
      await runWorker(config(), opts);
    });

  program
    .command('ingest')
    .description('chunk, embed and upsert .txt, .md and .jsonl files through the queue')
    .argument('<path...>', 'files or folders')
    .option('-n, --namespace <ns>', 'vector store namespace (default ASKQ_NAMESPACE)')
    .option('--with-worker', 'run a worker in this process (self-contained)')
    .option('--json', 'print the summary as JSON')
    .action(
      async (
        paths: string[],
        opts: { namespace?: string; withWorker?: boolean; json?: boolean },
      ) => {
        const { runIngest } = await import('./cli/run-ingest.ts');
        code = await runIngest(config(), paths, opts);
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
    .addOption(
      new Option('-t, --timeout <seconds>', 'how long --wait waits')
        .argParser(seconds)
        .default(120),
    )
    .action(async (question: string, opts: RunAskOptions) => {
      const { runAsk } = await import('./cli/run-ask.ts');
      code = await runAsk(config(), question, opts);
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
      const { runFailedList } = await import('./cli/run-failed.ts');
      code = await runFailedList(config(), opts);
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
      const { runFailedRetry } = await import('./cli/run-failed.ts');
      code = await runFailedRetry(config(), ids, opts);
    });

  program
    .command('serve')
    .description('run the HTTP API and Bull Board (no worker code is loaded)')
    .option('-p, --port <port>', 'port to listen on (default PORT)', intInRange(0, 65_535))
    .action(async (opts: { port?: number }) => {
      const { runServe } = await import('./cli/run-serve.ts');
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
    .option('--json', 'print the summary as JSON')
    .action(async (file: string | undefined, opts: RunEvalOptions) => {
      const { runEvalCommand } = await import('./cli/run-eval.ts');
      code = await runEvalCommand(config(), file, opts);
    });
  evaluation
    .command('status')
    .description('follow a run (e.g. a detached one) to the end and write its results')
    .argument('<run>', 'run id or run folder')
    .option('--with-worker', 'run a worker in this process')
    .option('-c, --concurrency <n>', 'in-process worker concurrency', intInRange(1, 10_000))
    .option('--fail-under <rate>', 'exit 1 when the pass rate is below (0.8 or 80%)', rate)
    .option('--json', 'print the summary as JSON')
    .action(async (run: string, opts: RunEvalOptions) => {
      const { runEvalCommand } = await import('./cli/run-eval.ts');
      code = await runEvalCommand(config(), run, opts, 'status');
    });
  evaluation
    .command('report')
    .description("rebuild a run's summary.json, results.csv and report.html from results.jsonl")
    .argument('<run>', 'run id or run folder')
    .action(async (run: string) => {
      const { runEvalReport } = await import('./cli/run-eval-compare.ts');
      code = await runEvalReport(config(), run);
    });
  evaluation
    .command('compare')
    .description('compare run b against run a: metric, latency and cost deltas, regressions')
    .argument('<a>', 'baseline run id or folder')
    .argument('<b>', 'run id or folder to compare')
    .option('--html <path>', 'also write the comparison as an HTML page')
    .option('--json', 'print the comparison as JSON')
    .option('--fail-on-regression', 'exit 1 when a case that passed in a does not pass in b')
    .action(async (a: string, b: string, opts: RunEvalCompareOptions) => {
      const { runEvalCompare } = await import('./cli/run-eval-compare.ts');
      code = await runEvalCompare(config(), a, b, opts);
    });

  program
    .command('demo')
    .description('ingest examples/ and answer the example questions on the embedded default')
    .action(async () => {
      const { runDemo } = await import('./cli/run-demo.ts');
      code = await runDemo(config());
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    const e = err as { code?: string; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
      // commander says exitCode 0 for --help, `help` and --version; a usage error is 2 here.
      return e.exitCode === 0 ? 0 : EXIT_INVALID;
    }
    if (err instanceof ValidationError) {
      process.stderr.write(`askq: invalid input: ${err.message}\n`);
      return EXIT_INVALID;
    }
    if (err instanceof AskqError) {
      process.stderr.write(`askq: ${err.message}\n`);
      return 1;
    }
    throw err;
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

async function run(argv: string[]): Promise<number> {
  const service = serviceFor(argv);
  // Before anything else runs, so every span of the command is recorded; loaded only when used.
  const telemetry = service
    ? (await import('./shared/telemetry/start-telemetry.ts')).startTelemetry(service)
    : undefined;
  try {
    return await main(argv);
  } finally {
    // Flush spans (e.g. the producer span of `askq ask`) before the process exits.
    await telemetry?.shutdown();
  }
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
