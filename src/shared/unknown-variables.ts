import { CONFIG_KEYS } from './config.ts';

/** An `ASKQ_*` variable the schema does not know, most likely a misspelling of `closest`. */
export interface UnknownVariable {
  name: string;
  closest: string;
}

/**
 * The `ASKQ_*` variables set in `env` that askq does not read, each with the known variable
 * nearest in spelling (`ASKQ_CONCURENCY` → `ASKQ_CONCURRENCY`), for a warning at start.
 */
export function unknownVariables(env: NodeJS.ProcessEnv = process.env): UnknownVariable[] {
  const known = new Set<string>(CONFIG_KEYS);
  return Object.keys(env)
    .filter((name) => name.startsWith('ASKQ_') && !known.has(name))
    .sort()
    .map((name) => ({ name, closest: closestKey(name) }));
}

function closestKey(name: string): string {
  let best = CONFIG_KEYS[0] as string;
  let bestDistance = Infinity;
  for (const key of CONFIG_KEYS) {
    const d = editDistance(name, key);
    if (d < bestDistance) [best, bestDistance] = [key, d];
  }
  return best;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j]! + 1, row[j - 1]! + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length]!;
}
