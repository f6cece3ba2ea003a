import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  redis: string;
  loadAverage: string;
}

/** The machine a run measured: cores, CPU model, Node and redis-server versions, load. */
export function machineInfo(): Machine {
  let cpu = 'unknown';
  try {
    cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  } catch {
    // not Linux
  }
  let redis = 'unknown';
  try {
    const out = execFileSync('redis-server', ['--version'], { encoding: 'utf8' });
    redis = /v=(\S+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    // not on PATH
  }
  return {
    cores: availableParallelism(),
    cpu,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    redis,
    loadAverage: loadavg()
      .map((l) => l.toFixed(2))
      .join(' / '),
  };
}

/**
 * How fast this machine runs JavaScript now: the median wall time of five runs (after three to
 * warm up) of one fixed, single-threaded workload (building, serialising, parsing and sorting
 * objects, the kind of work a worker's thread does per job). The VM's speed drifts between
 * runs (other tenants of its host), and every _absolute_ figure drifts with it; a run's probe,
 * taken at its start and end, says how fast the machine was while it measured, and the spread
 * of its five runs how much that speed moved within seconds.
 */
export function speedProbe(): { medianMs: number; minMs: number; maxMs: number } {
  // Three times first, until V8 has optimised it: the runs measure optimised code.
  for (let warm = 0; warm < 3; warm++) fixedWorkload();
  const times: number[] = [];
  for (let run = 0; run < 5; run++) {
    const started = performance.now();
    fixedWorkload();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[2]!, minMs: times[0]!, maxMs: times[4]! };
}

/** The probe's work; its result is checked so the work cannot be optimised away. */
function fixedWorkload(): void {
  let seed = 1;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648);
  const rows = Array.from({ length: 20_000 }, (_, i) => ({
    id: `case-${i}`,
    score: next() / 2_147_483_648,
    tags: [`t${next() % 50}`, `t${next() % 50}`],
    text: 'retrieval-augmented generation '.repeat(4),
  }));
  const parsed = JSON.parse(JSON.stringify(rows)) as typeof rows;
  parsed.sort((a, b) => a.score - b.score || a.id.localeCompare(b.id));
  if (parsed.length !== rows.length) throw new Error('speed probe: lost rows');
}

/** CPU time since boot from /proc/stat (jiffies), all cores: total and what the hypervisor took. */
export interface CpuTimes {
  total: number;
  steal: number;
}

export function cpuTimes(): CpuTimes | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
    const values = fields.map(Number);
    // user nice system idle iowait irq softirq steal (guest time is inside user already).
    const total = values.slice(0, 8).reduce((sum, v) => sum + v, 0);
    return { total, steal: values[7] ?? 0 };
  } catch {
    return undefined; // not Linux
  }
}
