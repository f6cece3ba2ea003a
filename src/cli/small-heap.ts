import { setFlagsFromString } from 'node:v8';

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
