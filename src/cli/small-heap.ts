import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * Tells V8 to favour memory over speed for the rest of this process: the old generation grows
 * by small steps, and the young one keeps the size it has now (a growth factor of 1: V8 would
 * otherwise double it, up to 64 MB a semi-space, whenever a burst of parsed results survives a
 * scavenge, and give it back only seconds later), so a command that streams a long run's
 * results (follow, record, report) keeps a flat footprint instead of letting garbage pile up
 * to hundreds of MB on a machine with memory to spare. It caps nothing: a run that needs more
 * heap still gets it. Costs some CPU (about a third more in the eval-100k benchmark), which a
 * command that mostly waits on deployed workers can spare; a command hosting a worker
 * (`--with-worker`) or a server does not call it.
 *
 * V8 reads both flags as it goes (at each garbage collection and allocation decision), so they
 * take effect when set at run time, as `node --optimize-for-size` would from the start (that
 * flag is not allowed in NODE_OPTIONS). `--max-semi-space-size` would not: V8 reads it once,
 * when the heap is set up.
 */
export function preferSmallHeap(): void {
  setFlagsFromString('--optimize-for-size --semi-space-growth-factor=1');
}

const MB = 1024 * 1024;

/**
 * Keeps the heap of a command hosting a worker (`--with-worker`) near what it uses, at a
 * little CPU. Such a command keeps about a hundred jobs in flight, and V8, tuned for speed on
 * a machine with memory to spare, otherwise lets the young generation grow to 128 MB (all of
 * it resident) and the old one to several times its live size between full collections:
 * 440 MB of RSS in the eval-run benchmark for about 60 MB of live objects. Two bounds:
 *
 * - the young generation stops growing at `youngMb` (a few more short-lived objects are
 *   promoted and collected with the old generation);
 * - the old generation may grow by `oldGrowthPercent` % of its live size before the next full
 *   collection (V8 picks up to 300 % by itself; 50 % cost 15 % more CPU).
 *
 * Unlike {@link preferSmallHeap} this keeps V8's speed settings otherwise: about 240 MB at
 * the same CPU in that benchmark, where `--optimize-for-size` cost 70 % more CPU.
 *
 * `--max-semi-space-size` would bound the young generation directly but is read only at start
 * (it would need NODE_OPTIONS or the command line); the growth factor is read at each growth
 * decision, so setting it to 1 once the bound is reached stops growth from then on. The young
 * generation grows only in a collection, so its size is checked after each one (V8 reports
 * collections, not growth), until the bound is set. The bound is soft: collections in one long
 * synchronous stretch are reported after it, by which time it may have grown once more.
 */
export function boundWorkerHeap({ youngMb = 16, oldGrowthPercent = 100 } = {}): void {
  setFlagsFromString(`--heap-growing-percent=${oldGrowthPercent}`);
  const observer = new PerformanceObserver(() => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (young && young.space_size < youngMb * MB) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    observer.disconnect();
  });
  observer.observe({ entryTypes: ['gc'] });
}

/**
 * How a command line tunes V8's heap: `small` for a command that follows, records or reports
 * an evaluation without hosting a worker ({@link preferSmallHeap}), `worker` for one that
 * hosts a worker (`--with-worker`, {@link boundWorkerHeap}), `default` otherwise.
 */
export type HeapTuning = 'small' | 'worker' | 'default';

export function heapTuningFor(argv: string[]): HeapTuning {
  const [command, subcommand] = argv.slice(2);
  if (argv.includes('--with-worker')) return 'worker';
  const streamsEvalResults =
    command === 'eval' &&
    (subcommand === 'run' || subcommand === 'status' || subcommand === 'report');
  return streamsEvalResults ? 'small' : 'default';
}

/**
 * Sets V8's flags for `tuning`. Call it before `enableCompileCache`: V8 stamps the code it
 * caches with a hash of all its flags and rejects code stamped with another, and Node keeps
 * one cache folder per hash of the flags at the moment the cache is enabled. Flags set after
 * that moment (as askq did, at the start of the command) stamp every module loaded later with
 * a hash its folder was not made for: `askq worker` and `askq eval run --with-worker` then
 * rejected and rewrote each other's code for the 870 modules both load after the change,
 * LangChain's among them, each compiling them again at start and writing them again at exit.
 */
export function applyHeapTuning(tuning: HeapTuning): void {
  if (tuning === 'small') preferSmallHeap();
  else if (tuning === 'worker') boundWorkerHeap();
}
