/**
 * One level of bench/llm-scaling.ts in a worker process of its own (see llm-level.ts):
 *
 *   node bench/lib/llm-level-child.ts '<LevelSpec as JSON>'
 *
 * Prints `LEVEL_RESULT {json}` and exits.
 */
import { type LevelSpec, measureLevelHere } from './llm-level.ts';

// The parent holds our stdin: when it is gone (killed by bench/run-all.ts's timeout, say), so
// are we, instead of running on as an orphan.
process.stdin.on('end', () => process.exit(1)).resume();
await measureLevelHere(JSON.parse(process.argv[2]!) as LevelSpec);
process.exit(0);
