#!/usr/bin/env node
import { enableCompileCache } from 'node:module';

import { applyHeapTuning, heapTuningFor } from './cli/small-heap.ts';

// The heap's tuning first, before the compile cache is enabled (see applyHeapTuning) and before
// module loading grows the young generation past a bound.
applyHeapTuning(heapTuningFor(process.argv));

// V8's compiled code of every module the command loads is kept on disk (in the temp folder, as
// tsc and npm do) for the next run: `--with-worker` loads the worker and LangChain, about half
// a second to compile each time otherwise. On before anything else is imported, so the command
// line's own modules (commander, the config schema) are cached too: the static imports of a
// module are loaded before its first statement runs. A cache that cannot be written is skipped
// silently; NODE_DISABLE_COMPILE_CACHE=1 turns it off.
enableCompileCache();
await import('./cli/main.ts');
