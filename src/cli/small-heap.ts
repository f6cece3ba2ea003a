import { setFlagsFromString } from 'node:v8';

/**
 * Tells V8 to favour memory over speed for the rest of this process: the young generation
 * stays small and the old one grows by small steps, so a command that streams a long run's
 * results (follow, record, report) keeps a flat footprint instead of letting garbage pile up
 * to hundreds of MB on a machine with memory to spare. It caps nothing: a run that needs more
 * heap still gets it. Costs some CPU (about a third more in the eval-100k benchmark), which a
 * command that mostly waits on deployed workers can spare; a command hosting a worker
 * (`--with-worker`) or a server does not call it.
 *
 * V8 reads this flag as it goes (at each garbage collection and allocation decision), so it
 * takes effect when set at run time, which is what `node --optimize-for-size` would do from
 * the start (that flag is not allowed in NODE_OPTIONS).
 */
export function preferSmallHeap(): void {
  setFlagsFromString('--optimize-for-size');
}
