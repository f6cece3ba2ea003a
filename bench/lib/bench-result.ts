/**
 * What every benchmark returns and how it is printed. Each bench/<name>.ts exports a `run`
 * function returning a {@link BenchResult}; run as a script it prints the table and, last, one
 * `BENCH_RESULT {json}` line that bench/run-all.ts parses.
 */

/** One measured figure, with its goal when it has one. */
export interface Figure {
  figure: string;
  measured: string;
  /** The goal as text, e.g. `≥ 0.5`. */
  goal?: string;
  /** Whether the goal is met; `undefined` for a figure without a goal. */
  met?: boolean;
  /**
   * What a goal figure is: `side-by-side`, a ratio of two things measured in the same run
   * (robust to the shared machine's load), or `absolute`, a count, size, rate or time held
   * against a fixed number (it drifts with the load). Required with `met`.
   */
  kind?: 'side-by-side' | 'absolute';
}

export interface BenchResult {
  /** File name without `.ts`, e.g. `orchestration-overhead`. */
  id: string;
  title: string;
  /** What is compared with what, and why that comparison. */
  compares: string;
  /** The goal, as issue 7 states it. */
  goal: string;
  figures: Figure[];
  /** Findings: what bounds a figure, why a goal is missed. Markdown, one paragraph each. */
  notes: string[];
  /** Extra Markdown (e.g. a profile table) placed after the notes. */
  extra?: string;
  /** Wall time of the benchmark itself, seconds. */
  seconds: number;
}

export const RESULT_MARKER = 'BENCH_RESULT ';

/** Status word of a result: met when every goal figure is met. */
export function status(result: Pick<BenchResult, 'figures'>): 'met' | 'missed' | 'no goal' {
  const goals = result.figures.filter((f) => f.met !== undefined);
  if (goals.length === 0) return 'no goal';
  return goals.every((f) => f.met) ? 'met' : 'missed';
}

/** A plain-text table of the figures. */
export function formatFigures(figures: Figure[]): string {
  const rows = [
    ['figure', 'goal', 'measured', 'met'],
    ...figures.map((f) => [f.figure, f.goal ?? '', f.measured, metText(f.met)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

export function metText(met: boolean | undefined): string {
  return met === undefined ? '' : met ? 'yes' : 'NO';
}

/** Prints a result for a person, then the machine-readable line. */
export function printResult(result: BenchResult): void {
  console.log(`\n== ${result.title} (${result.seconds.toFixed(1)} s) ==`);
  console.log(formatFigures(result.figures));
  for (const note of result.notes) console.log(`- ${note}`);
  console.log(RESULT_MARKER + JSON.stringify(result));
}

/** Runs `run` when the file is the process's entry point, printing its result. */
export async function runAsScript(isMain: boolean, run: () => Promise<BenchResult>): Promise<void> {
  if (!isMain) return;
  try {
    printResult(await run());
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  }
}

/** Formats a number with thousands separators and `digits` decimals, never rounding up a ratio's verdict. */
export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A ratio truncated (not rounded) to `digits` decimals, so a figure never reads better than it is. */
export function floorTo(n: number, digits = 2): string {
  const f = 10 ** digits;
  return (Math.floor(n * f) / f).toFixed(digits);
}

/** A share as a percentage, rounded up, so a figure never reads better than it is. */
export function ceilPercent(share: number, digits = 2): string {
  const f = 10 ** digits;
  return `${(Math.ceil(share * 100 * f) / f).toFixed(digits)} %`;
}

/** Percentile (nearest rank) of unsorted values. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[
    Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  ]!;
}

export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
