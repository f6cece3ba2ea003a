import OpenAI, { toFile } from 'openai';
import type { Batch } from 'openai/resources/batches';

import { ValidationError } from '../errors.ts';
import { MINUTE, SECOND } from '../time.ts';
import { batchMetadata } from './batch-lane.ts';

export type { Batch };

/** The server cannot run batches (no `/v1/batches`, or the key may not use it): `--batch` is refused. */
export class BatchUnavailableError extends ValidationError {
  override name = 'BatchUnavailableError';
}

export interface BatchApiOptions {
  apiKey: string;
  /** An OpenAI-compatible server. @defaultValue the OpenAI API */
  baseURL?: string;
  /** Per request. @defaultValue 60000 */
  timeoutMs?: number;
}

/** One line of a batch's output or error file. */
export interface BatchResultLine {
  custom_id: string;
  response?: { status_code: number; body?: unknown } | null;
  error?: { code?: string | null; message?: string | null } | null;
}

/**
 * The Batch API through the openai SDK: upload a JSONL file (`purpose: batch`), create, find,
 * read and cancel batches, download result files. The SDK's own retries stay on (2, with
 * backoff): these are a handful of control calls per run, not the per-question traffic the
 * queue retries.
 */
export class BatchApi {
  private readonly client: OpenAI;

  constructor(options: BatchApiOptions) {
    this.client = new OpenAI({
      apiKey: options.apiKey,
      ...(options.baseURL ? { baseURL: options.baseURL } : {}),
      timeout: options.timeoutMs ?? MINUTE,
    });
  }

  /**
   * Resolves when the server answers `GET /v1/batches`; otherwise says why batches cannot run
   * there (a 404 is a server without the Batch API).
   */
  async assertAvailable(): Promise<void> {
    try {
      await this.client.batches.list({ limit: 1 });
    } catch (err) {
      const status = err instanceof OpenAI.APIError ? err.status : undefined;
      const why =
        status === 404 || status === 405
          ? 'the server has no Batch API (GET /v1/batches answered ' + String(status) + ')'
          : `GET /v1/batches failed: ${err instanceof Error ? err.message : String(err)}`;
      throw new BatchUnavailableError(why, { cause: err });
    }
  }

  /** Uploads request lines as a batch input file; returns its id. */
  async upload(name: string, lines: string[]): Promise<string> {
    const file = await toFile(Buffer.from(`${lines.join('\n')}\n`), name, {
      type: 'application/jsonl',
    });
    const created = await this.client.files.create({ file, purpose: 'batch' });
    return created.id;
  }

  /** Creates the batch of chunk `chunk` of run `runId`, tagged so it can be found again. */
  async create(fileId: string, runId: string, chunk: number): Promise<Batch> {
    return this.client.batches.create({
      input_file_id: fileId,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: batchMetadata(runId, chunk),
    });
  }

  /**
   * The batch askq created for (run, chunk), if any: pages through `GET /v1/batches` (newest
   * first) until batches older than `since` (unix ms).
   */
  async find(runId: string, chunk: number, since: number): Promise<Batch | undefined> {
    const want = batchMetadata(runId, chunk);
    for await (const batch of this.client.batches.list({ limit: 100 })) {
      const meta = batch.metadata ?? {};
      if (meta.askq_run === want.askq_run && meta.askq_chunk === want.askq_chunk) return batch;
      // created_at is in seconds; a minute of slack for clock skew.
      if (batch.created_at * SECOND < since - MINUTE) return undefined;
    }
    return undefined;
  }

  async retrieve(batchId: string): Promise<Batch> {
    return this.client.batches.retrieve(batchId);
  }

  async cancel(batchId: string): Promise<Batch> {
    return this.client.batches.cancel(batchId);
  }

  /** The lines of an output or error file. */
  async resultLines(fileId: string): Promise<BatchResultLine[]> {
    const response = await this.client.files.content(fileId);
    const text = await response.text();
    const lines: BatchResultLine[] = [];
    for (const raw of text.split('\n')) {
      if (raw.trim() === '') continue;
      const parsed = JSON.parse(raw) as BatchResultLine;
      if (typeof parsed.custom_id === 'string') lines.push(parsed);
    }
    return lines;
  }
}
