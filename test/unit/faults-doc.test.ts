import { describe, expect, it } from 'vitest';

import { renderFaults } from '../../scripts/generate-faults.ts';
import type { FaultFigures } from '../support/fault-figures.ts';

const records: FaultFigures[] = [
  {
    scenario: 'llm-outage',
    test: 'llm outage > every job completes',
    file: 'test/faults/llm-outage.test.ts',
    figures: {
      jobs: 300,
      completed: 300,
      lost: 0,
      duplicateResults: 0,
      seconds: 15.12,
      breakerOpens: { chat: [3] },
    },
  },
  {
    scenario: 'redis-full',
    test: 'redis full > refuses new work',
    file: 'test/faults/redis-full.test.ts',
    figures: { refused: 12 },
  },
];

const report = {
  numTotalTests: 2,
  numPassedTests: 1,
  numFailedTests: 1,
  testResults: [
    {
      name: '/repo/test/faults/llm-outage.test.ts',
      startTime: 0,
      endTime: 1,
      assertionResults: [{ fullName: 'llm outage every job completes', status: 'passed' }],
    },
    {
      name: '/repo/test/faults/redis-full.test.ts',
      startTime: 0,
      endTime: 1,
      assertionResults: [{ fullName: 'redis full refuses new work', status: 'failed' }],
    },
  ],
};

describe('FAULTS.md generator', () => {
  it('renders the date, commit, machine and every recorded figure, marking failures', async () => {
    const text = await renderFaults(records, {
      date: '2026-11-30T08:00:00Z',
      commit: 'abc1234',
      machine: 'Linux 6.1, 2 × Test CPU',
      wallSeconds: 120.04,
      report,
    });
    expect(text).toContain(
      'on 2026-11-30T08:00:00Z from commit abc1234, on Linux 6.1, 2 × Test CPU',
    );
    expect(text).toContain('1 of 2 tests passed, **1 failed**, 120.0 s');
    expect(text).toMatch(/\| llm-outage +\| llm outage > every job completes +\| passed +\| 300 /);
    expect(text).toMatch(/\| redis-full +\| redis full > refuses new work +\| failed +\| — /);
    expect(text).toMatch(/\| breakerOpens +\| `\{"chat":\[3\]\}` +\|/);
    expect(text).toMatch(/\| refused +\| `12` +\|/);
  });

  it('takes the settings it lists from the config schema, not from a hand-written copy', async () => {
    const text = await renderFaults(records, { date: 'd', commit: 'c', machine: 'm' });
    expect(text).toMatch(/\| `ASKQ_MAX_STARTED_ATTEMPTS` +\| `1000` /);
    expect(text).toMatch(/\| `ASKQ_BREAKER_WINDOW_MS` +\| `10000` \(10 s\) /);
  });
});
