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
 * Stops the young generation growing once it holds `mb` MB: a command hosting a worker
 * (`--with-worker`) keeps about a hundred jobs in flight, and V8 otherwise grows the young
 * generation to 128 MB (all of it resident) to keep their short-lived objects from being
 * promoted. Capped, a few more of them are promoted and collected with the old generation: a
 * little more CPU for about 100 MB less memory in the eval-run benchmark. Unlike
 * {@link preferSmallHeap} this keeps V8's speed settings otherwise.
 *
 * `--max-semi-space-size` would say this directly but is read only at start (and needs
 * NODE_OPTIONS or the command line); the growth factor is read at each growth decision, so
 * setting it to 1 once the cap is reached stops growth from then on. Checked on a timer
 * because V8 reports no event when it grows the young generation; the check costs
 * microseconds and stops once the cap is set.
 */
export function capYoungGeneration(mb = 16): void {
  const timer = setInterval(() => {
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (young && young.space_size < mb * MB) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    clearInterval(timer);
  }, 20);
  timer.unref();
}
