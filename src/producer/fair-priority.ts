/**
 * Fair share between API keys without BullMQ Pro's groups: each question's BullMQ priority
 * grows with the number of its key's questions ahead of it, on a log scale. A key's first
 * question gets priority 1, its second and third 2, its 4th to 7th 3, … its 1,024th to
 * 2,047th 11; so a key with one question waiting overtakes another key's backlog of
 * thousands, while within a key questions keep their order (BullMQ is FIFO within a priority).
 *
 * Priorities stay below `ceiling` (the eval runs' priority), so evaluation cases keep running
 * after all interactive work.
 */
export function fairPriority(ahead: number, ceiling: number): number {
  const level = 1 + Math.floor(Math.log2(1 + Math.max(0, ahead)));
  return Math.max(1, Math.min(level, ceiling - 1));
}
