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
