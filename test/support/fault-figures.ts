import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

import { expect } from 'vitest';

/** Where `npm run faults` asks the fault tests to write their figures (one JSON file each). */
export const FAULTS_RESULTS_DIR_VAR = 'FAULTS_RESULTS_DIR';

/** What one fault test recorded: the generator renders FAULTS.md from these. */
export interface FaultFigures {
  /** Short id of the scenario, e.g. `llm-outage`. */
  scenario: string;
  /** The test's full name, as vitest reports it. */
  test: string;
  /** The test file, relative to the repository. */
  file: string;
  /**
   * The measured figures. By convention `jobs`, `completed`, `lost`, `duplicateResults`,
   * `chatCalls`, `embeddingCalls`, `maxAttempts` and `seconds` feed the summary table; every
   * figure is listed under its scenario.
   */
  figures: Record<string, unknown>;
}

/**
 * Records a fault scenario's figures: one `FAULTS {…}` line in the test's output, and, when
 * `FAULTS_RESULTS_DIR` is set (by `npm run faults`), a JSON file there that FAULTS.md is
 * generated from. Call it once per test, before the assertions, so a failing run still shows
 * what it measured.
 */
export function printFigures(scenario: string, figures: Record<string, unknown>): void {
  console.log(`FAULTS ${JSON.stringify({ scenario, ...figures })}`);
  const dir = process.env[FAULTS_RESULTS_DIR_VAR];
  if (!dir) return;
  const state = expect.getState();
  const record: FaultFigures = {
    scenario,
    test: state.currentTestName ?? scenario,
    file: state.testPath ? relative(process.cwd(), state.testPath) : '',
    figures,
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${scenario}.json`), `${JSON.stringify(record, null, 2)}\n`);
}
