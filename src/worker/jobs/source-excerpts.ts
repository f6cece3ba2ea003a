import type { Source, SourceTextMode } from '../../shared/contracts.ts';

/**
 * The sources as a result carries them: each chunk's text cut to its first `maxChars`
 * characters (none when 0), or whole with `full`. A result is stored twice by BullMQ (the job
 * hash and the `completed` event), so whole chunks would dominate what a retained job costs
 * in Redis; scoring runs before this, on the whole chunks.
 */
export function sourcesForResult(
  sources: readonly Source[],
  mode: SourceTextMode | undefined,
  maxChars: number,
): Source[] {
  if (mode === 'full') return [...sources];
  return sources.map((s) =>
    s.text.length <= maxChars ? s : { ...s, text: excerpt(s.text, maxChars) },
  );
}

/** The first `maxChars` UTF-16 units of `text`, never ending on half a surrogate pair. */
export function excerpt(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const end = isHighSurrogate(text.charCodeAt(maxChars - 1)) ? maxChars - 1 : maxChars;
  return text.slice(0, Math.max(0, end));
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
