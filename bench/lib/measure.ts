import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** How busy this process and its JavaScript thread were over a window. */
export interface ProcessLoad {
  /** CPU of the whole process (user + system ÷ wall; 1.0 = one core busy): every thread. */
  cpuCores: number;
  /**
   * CPU of the JavaScript thread alone (process.threadCpuUsage), the one that cannot use a
   * second core; the rest of {@link cpuCores} is V8's GC helpers and libuv's threads.
   */
  threadCores: number;
  /** Event-loop utilization: the share of the wall the thread was not waiting for events. */
  loopBusy: number;
  loopDelayP99Ms: number;
}

/** Starts measuring; call the returned function to stop and read. */
export function measureProcessLoad(): () => ProcessLoad {
  const cpu = process.cpuUsage();
  const thread = process.threadCpuUsage();
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  return () => {
    h.disable();
    const used = process.cpuUsage(cpu);
    const threadUsed = process.threadCpuUsage(thread);
    const wallUs = (performance.now() - started) * 1000;
    return {
      cpuCores: (used.user + used.system) / wallUs,
      threadCores: (threadUsed.user + threadUsed.system) / wallUs,
      loopBusy: performance.eventLoopUtilization(elu).utilization,
      loopDelayP99Ms: h.percentile(99) / 1e6,
    };
  };
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat, or its main
 * thread alone (/proc/<pid>/task/<pid>/stat: a Node process's JavaScript thread); NaN elsewhere.
 */
export function procCpuSeconds(pid: number | undefined, mainThread = false): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(
      mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`,
      'utf8',
    );
    // Fields after the command name (which may contain spaces) start at ") ".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

/** Measures the CPU share (1.0 = one core) of other processes over a window. */
export function measureProcesses(
  pids: Record<string, number | undefined>,
  /** Read the process's main (JavaScript) thread only, not all its threads. */
  { mainThread = false } = {},
): () => Record<string, number> {
  const started = performance.now();
  const read = (pid: number | undefined) => procCpuSeconds(pid, mainThread);
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, read(pid)]));
  return () => {
    const wall = (performance.now() - started) / 1000;
    return Object.fromEntries(
      Object.entries(pids).map(([k, pid]) => [k, (read(pid) - before[k]!) / wall]),
    );
  };
}

/** Busy share of the whole machine (all cores, every process, other users' included), from /proc/stat. */
export function measureMachineBusy(): () => number {
  const read = () => {
    try {
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
      const n = cpu.map(Number);
      const idle = (n[3] ?? 0) + (n[4] ?? 0);
      return { idle, total: n.slice(0, 8).reduce((a, b) => a + b, 0) };
    } catch {
      return { idle: NaN, total: NaN };
    }
  };
  const before = read();
  return () => {
    const after = read();
    return 1 - (after.idle - before.idle) / (after.total - before.total);
  };
}
