/**
 * Where a chunk came from (PDF page, nearest heading) travels through the vector store in the
 * chunk's metadata under these keys, so every store keeps it without a schema change.
 */
const PAGE_KEY = 'askq.page';
const SECTION_KEY = 'askq.section';

/** A chunk's place in its document. */
export interface ChunkLocation {
  page?: number;
  section?: string;
}

/** The chunk's metadata with its location added. */
export function withLocation(
  metadata: Record<string, string> | undefined,
  location: ChunkLocation,
): Record<string, string> | undefined {
  if (location.page === undefined && location.section === undefined) return metadata;
  return {
    ...metadata,
    ...(location.page === undefined ? {} : { [PAGE_KEY]: String(location.page) }),
    ...(location.section === undefined ? {} : { [SECTION_KEY]: location.section }),
  };
}

/** The location stored in a match's metadata; fields it does not hold are left out. */
export function locationOf(metadata: Record<string, string> | undefined): ChunkLocation {
  const page = Number(metadata?.[PAGE_KEY]);
  const section = metadata?.[SECTION_KEY];
  return {
    ...(Number.isInteger(page) && page >= 1 ? { page } : {}),
    ...(section ? { section } : {}),
  };
}

/** `p.2`, `§ Refunds`, or '' for a chunk without a location: how people cite it. */
export function formatLocation(location: ChunkLocation): string {
  if (location.page !== undefined) return `p.${location.page}`;
  if (location.section !== undefined) return `§ ${location.section}`;
  return '';
}

/** `manual.pdf p.2 #3`, `help.html § Refunds #1`, or `notes.md#0` for a chunk without a location. */
export function citeSource(source: ChunkLocation & { id: string; chunk: number }): string {
  const where = formatLocation(source);
  return where ? `${source.id} ${where} #${source.chunk}` : `${source.id}#${source.chunk}`;
}
