import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  type ComparedRun,
  compareRuns,
  formatComparison,
  readManifest,
  readResults,
  rebuildReport,
  renderComparisonHtml,
  summarize,
} from '../producer/eval/index.ts';
import type { Config } from '../shared/config.ts';
import { findRun } from './find-run.ts';

/** `askq eval report <run>`: rebuilds summary.json, results.csv and report.html from results.jsonl. */
export async function runEvalReport(config: Config, run: string): Promise<number> {
  const dir = await findRun(config, run);
  await rebuildReport(dir, {
    prices: config.ASKQ_EVAL_PRICES,
    ...(config.ASKQ_JAEGER_URL ? { jaegerUrl: config.ASKQ_JAEGER_URL } : {}),
  });
  process.stdout.write(`${join(dir, 'report.html')}\n`);
  return 0;
}

export interface RunEvalCompareOptions {
  html?: string;
  json?: boolean;
  failOnRegression?: boolean;
}

/** `askq eval compare <a> <b>`: deltas of b against a; 1 with --fail-on-regression when a case regressed. */
export async function runEvalCompare(
  config: Config,
  a: string,
  b: string,
  options: RunEvalCompareOptions,
): Promise<number> {
  const [ra, rb] = await Promise.all([load(config, a), load(config, b)]);
  const comparison = compareRuns(ra, rb);
  process.stdout.write(
    options.json ? `${JSON.stringify(comparison, null, 2)}\n` : `${formatComparison(comparison)}\n`,
  );
  if (options.html) await writeFile(options.html, renderComparisonHtml(comparison));
  return options.failOnRegression && comparison.regressed.length > 0 ? 1 : 0;
}

async function load(config: Config, run: string): Promise<ComparedRun> {
  const dir = await findRun(config, run);
  const results = await readResults(dir);
  const summary = summarize(await readManifest(dir), results.values(), config.ASKQ_EVAL_PRICES);
  return { summary, results };
}
