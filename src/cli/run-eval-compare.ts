import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import {
  type CaseOutcome,
  type ComparedRun,
  compareRuns,
  formatComparison,
  latestResults,
  QUESTION_CHARS,
  readManifest,
  rebuildReport,
  renderComparisonHtml,
  summarize,
  writeJunit,
} from '../producer/eval/index.ts';
import type { Config } from '../shared/config.ts';
import { ValidationError } from '../shared/errors.ts';
import { findRun } from './find-run.ts';

/**
 * `askq eval report <run>`: rebuilds summary.json, results.csv and report.html from
 * results.jsonl (and JUnit XML with `--junit`).
 */
export async function runEvalReport(
  config: Config,
  run: string,
  options: { junit?: string } = {},
): Promise<number> {
  const dir = await findRun(config, run);
  const summary = await rebuildReport(dir, {
    prices: config.ASKQ_EVAL_PRICES,
    ...(config.ASKQ_JAEGER_URL ? { jaegerUrl: config.ASKQ_JAEGER_URL } : {}),
  });
  if (options.junit) await writeJunit(options.junit, summary, latestResults(dir));
  process.stdout.write(`${join(dir, 'report.html')}\n`);
  return 0;
}

export interface RunEvalCompareOptions {
  html?: string;
  json?: boolean;
  failOnRegression?: boolean;
  /** Significance level. @defaultValue 0.05 */
  alpha?: number;
  /** A drop larger than this fails `--fail-on-regression` whatever its significance. */
  maxDrop?: number;
}

/**
 * `askq eval compare <a> <b>`: b against a, case by case, with confidence intervals and
 * McNemar's test; `<run>@<variant>` compares variants (of one run or two). Returns 1 with
 * `--fail-on-regression` when a drop is significant or larger than `--max-drop`.
 */
export async function runEvalCompare(
  config: Config,
  a: string,
  b: string,
  options: RunEvalCompareOptions,
): Promise<number> {
  const [ra, rb] = await Promise.all([load(config, a), load(config, b)]);
  const comparison = compareRuns(ra, rb, {
    ...(options.alpha === undefined ? {} : { alpha: options.alpha }),
    ...(options.maxDrop === undefined ? {} : { maxDrop: options.maxDrop }),
  });
  process.stdout.write(
    options.json ? `${JSON.stringify(comparison, null, 2)}\n` : `${formatComparison(comparison)}\n`,
  );
  if (options.html) await writeFile(options.html, renderComparisonHtml(comparison));
  return options.failOnRegression && comparison.regressions.length > 0 ? 1 : 0;
}

/**
 * A run (or one variant of it) as compared, streamed from results.jsonl: the summary, and
 * per case only its status, scores and the start of its question. Within a variant, cases are
 * keyed by their file id (and repeat), so two variants pair case by case.
 */
async function load(config: Config, spec: string): Promise<ComparedRun> {
  const at = spec.lastIndexOf('@');
  const [run, variant] = at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined];
  const dir = await findRun(config, run);
  const manifest = await readManifest(dir);
  const names = (manifest.settings.variants ?? []).map((v) => v.name);
  if (variant !== undefined && !names.includes(variant)) {
    throw new ValidationError(
      `run ${manifest.runId} has no variant "${variant}" (${names.length > 0 ? `it has ${names.join(', ')}` : 'it has none'})`,
    );
  }
  const cases = new Map<string, CaseOutcome>();
  async function* selected() {
    for await (const r of latestResults(dir)) {
      if (variant !== undefined && r.variant !== variant) continue;
      yield r;
    }
  }
  for await (const r of selected()) {
    const key =
      variant === undefined ? r.id : `${r.caseId ?? r.id}${r.repeat ? `#${r.repeat}` : ''}`;
    cases.set(key, {
      status: r.status,
      question: r.question.slice(0, QUESTION_CHARS),
      scores: r.scores,
    });
  }
  const summary = await summarize(manifest, selected(), config.ASKQ_EVAL_PRICES);
  return {
    summary: variant ? { ...summary, runId: `${summary.runId}@${variant}` } : summary,
    cases,
  };
}
