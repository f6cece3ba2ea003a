import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { configRows, README_PATH, renderReadme } from '../../scripts/generate-docs.ts';
import { CONFIG_KEYS } from '../../src/shared/config.ts';

const readme = readFileSync(README_PATH, 'utf8');

describe("README's configuration table", () => {
  it('is exactly what `npm run docs` writes from the config schema', async () => {
    expect(readme).toBe(await renderReadme(readme));
  });

  it('has one described row per variable, in schema order', () => {
    const rows = configRows();
    expect(rows.map(([key]) => key)).toEqual(CONFIG_KEYS.map((key) => `\`${key}\``));
    for (const [, , meaning] of rows) expect(meaning.length).toBeGreaterThan(5);
  });

  it("shows the schema's defaults, durations in words", () => {
    const byKey = new Map(configRows().map(([key, shown]) => [key, shown]));
    expect(byKey.get('`ASKQ_MAX_STARTED_ATTEMPTS`')).toBe('`1000`');
    expect(byKey.get('`ASKQ_BREAKER_WINDOW_MS`')).toBe('`10000` (10 s)');
    expect(byKey.get('`ASKQ_JOB_DEADLINE_MS`')).toBe('`1800000` (30 min)');
    expect(byKey.get('`ASKQ_LLM_RPM`')).toBe('unlimited');
  });

  it('notices a README whose table was edited by hand', async () => {
    const edited = readme.replace(
      '| `ASKQ_MAX_STARTED_ATTEMPTS` ',
      '| `ASKQ_MAX_STARTS`           ',
    );
    expect(edited).not.toBe(readme);
    expect(await renderReadme(edited)).toBe(readme);
  });
});
