import { setImmediate as yieldToEventLoop } from 'node:timers/promises';

import { DEFAULTS } from '../../../shared/defaults.ts';
import { ValidationError } from '../../../shared/errors.ts';
import type { EmbeddingsPort } from '../../../shared/ports.ts';
import { features } from './text-features.ts';

/** Options of {@link HashingEmbeddings}. */
export interface HashingEmbeddingsOptions {
  /**
   * Length of each vector. More dimensions mean fewer hash collisions; changing it changes the
   * embedding id, so a store never mixes vectors of two sizes.
   * @defaultValue 1024
   */
  dimensions?: number;
}

const HASHING_DEFAULTS = {
  dimensions: DEFAULTS.localEmbeddingDimensions,
} satisfies Required<HashingEmbeddingsOptions>;

/** Texts embedded between two yields to the event loop, so a big batch cannot starve it. */
const TEXTS_PER_SLICE = 64;

/**
 * 32-bit FNV-1a over UTF-16 code units, finished with murmur3's avalanche so that the low bits
 * (used for the index) and the top bit (used for the sign) are well mixed. Pure integer maths:
 * identical in every process, on every machine, in every run.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Embeddings that need no model, no key and no network: the weighted word and character n-gram
 * features of {@link features} hashed into a fixed-size vector (the "hashing trick"), with a
 * sign bit so collisions cancel out on average instead of piling up. Vectors are L2-normalised,
 * so cosine similarity is their dot product. Deterministic, CJK-aware, and fast enough to embed
 * thousands of chunks a second.
 */
export class HashingEmbeddings implements EmbeddingsPort {
  readonly provider = 'local';
  readonly model = 'hashing-v1';
  /** Length of every vector this instance returns. */
  readonly dimensions: number;

  constructor(options: HashingEmbeddingsOptions = {}) {
    const { dimensions } = { ...HASHING_DEFAULTS, ...options };
    if (!Number.isInteger(dimensions) || dimensions < 16 || dimensions > 65_536) {
      throw new ValidationError(
        `HashingEmbeddings dimensions must be an integer from 16 to 65536, got ${dimensions}`,
      );
    }
    this.dimensions = dimensions;
  }

  /** Identifies this model and size, e.g. for naming the vector store table. */
  get embeddingId(): string {
    return `${this.provider}-${this.model}-${this.dimensions}`;
  }

  embedQuery(text: string, signal?: AbortSignal): Promise<number[]> {
    try {
      signal?.throwIfAborted();
      return Promise.resolve(this.embed(text));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async embedDocuments(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    signal?.throwIfAborted();
    const vectors: number[][] = [];
    for (let i = 0; i < texts.length; i++) {
      if (i > 0 && i % TEXTS_PER_SLICE === 0) {
        await yieldToEventLoop();
        signal?.throwIfAborted();
      }
      vectors.push(this.embed(texts[i]!));
    }
    return vectors;
  }

  /** The vector of one text; all zeros when the text has no features (empty, punctuation). */
  embed(text: string): number[] {
    const vector = new Float64Array(this.dimensions);
    // forEach, not for…of: no [key, value] array per feature.
    features(text).forEach((weight, feature) => {
      const h = hash32(feature);
      const sign = h & 0x80000000 ? -1 : 1;
      vector[h % this.dimensions]! += sign * weight;
    });
    // Indexed loops: iterating the typed array (for…of, Array.from) allocated an iterator
    // result per component, the largest share of an eval run's garbage.
    const n = vector.length;
    let norm = 0;
    for (let i = 0; i < n; i++) norm += vector[i]! * vector[i]!;
    norm = Math.sqrt(norm);
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = norm === 0 ? 0 : vector[i]! / norm;
    return out;
  }
}
