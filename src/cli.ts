#!/usr/bin/env node
import { Command, Option } from 'commander';

// Commands are imported when run, so `askq config` or `askq ask` never load the worker's
// providers (LanceDB, LangChain).
import { intInRange, seconds } from './cli/options.ts';
import type { RunAskOptions } from './cli/run-ask.ts';
import { type Config, ConfigError, loadConfig, redactConfig } from './shared/config.ts';
import { AskqError, ValidationError } from './shared/errors.ts';

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

  program
    .command('config')
    .description('print the effective configuration, secrets redacted')
    .action(() => {
      process.stdout.write(`${JSON.stringify(redactConfig(config()), null, 2)}\n`);
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
      return ['commander.helpDisplayed', 'commander.version'].includes(e.code) ? 0 : EXIT_INVALID;
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

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `askq: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
