import type { TextPart } from './text-part.ts';

/** Formats parsed in the parser thread; text formats are read in the CLI itself. */
export type ThreadFormat = 'pdf' | 'docx' | 'html';

/** Message to the parser thread. */
export interface ParseRequest {
  id: number;
  format: ThreadFormat;
  bytes: Uint8Array;
}

/** Message back from the parser thread. */
export type ParseReply = { id: number; parts: TextPart[] } | { id: number; error: string };
