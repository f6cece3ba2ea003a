/**
 * Retrieval scores against the documents a question should have found. `retrieved` is the
 * answer's `sources[].id`, best first (one entry per chunk, so a document may repeat).
 */

/** 1 when one of the first `k` retrieved documents is expected, else 0. */
export function hitAtK(
  retrieved: readonly string[],
  expected: readonly string[],
  k: number,
): number {
  const want = new Set(expected);
  return retrieved.slice(0, k).some((id) => want.has(id)) ? 1 : 0;
}

/** Reciprocal rank of the first expected document among the distinct retrieved ones; 0 when none. */
export function reciprocalRank(retrieved: readonly string[], expected: readonly string[]): number {
  const want = new Set(expected);
  const distinct = [...new Set(retrieved)];
  const at = distinct.findIndex((id) => want.has(id));
  return at < 0 ? 0 : 1 / (at + 1);
}
