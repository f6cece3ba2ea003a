import type { RecordedRequest, RouteResponse } from './scripted-http-server.ts';

/**
 * The Batch API half of the OpenAI fake: `/v1/files` (multipart upload, `purpose=batch`),
 * `/v1/files/{id}/content`, `/v1/batches` (create, list), `/v1/batches/{id}` and
 * `/v1/batches/{id}/cancel`. A batch ends `completionDelayMs` after its creation, checked
 * whenever it is read: then each line is answered by the fake's chat completions (never
 * counted as an online chat call), or fails with the status {@link FakeBatches.lineStatus}
 * picks, or — when {@link FakeBatches.expire} says so — the batch expires with half its
 * lines answered and the rest in the error file as `batch_expired`.
 */

export type BatchRoute =
  'files' | 'fileContent' | 'batchCreate' | 'batchList' | 'batchGet' | 'batchCancel';

export const BATCH_ROUTES = [
  'files',
  'fileContent',
  'batchCreate',
  'batchList',
  'batchGet',
  'batchCancel',
] as const satisfies readonly BatchRoute[];

/** One request line of an uploaded batch file. */
export interface BatchInputLine {
  custom_id: string;
  method: string;
  url: string;
  body: unknown;
}

/** A batch as the fake keeps it. */
export interface FakeBatch {
  id: string;
  inputFileId: string;
  metadata: Record<string, string>;
  createdAt: number;
  status: string;
  lines: BatchInputLine[];
  outputFileId?: string;
  errorFileId?: string;
  completed: number;
  failed: number;
  /** Why validation failed (status `failed`). */
  error?: string;
}

export interface FakeBatchesOptions {
  /** Time from a batch's creation to its end. @defaultValue 0 */
  completionDelayMs?: number;
}

/** The Batch API state of a fake server; its fields can be changed while a test runs. */
export class FakeBatches {
  /** Time from a batch's creation to its end. */
  completionDelayMs: number;
  /** Status of a line (401, 429, 500…) by its request and how often it was seen; `undefined` answers it. */
  lineStatus: (line: BatchInputLine, seen: number) => number | undefined = () => undefined;
  /** Whether a batch expires instead of completing. */
  expire: (batch: FakeBatch) => boolean = () => false;
  /** Why a batch fails validation (its file refused, nothing run), or undefined to run it. */
  validationError: (batch: FakeBatch) => string | undefined = () => undefined;
  /** Delay of the answer to a batch creation; the batch exists from the request's arrival. */
  createResponseDelayMs = 0;
  /** Runs before a cancel is answered: a test's way to make something happen meanwhile. */
  beforeCancel: (() => Promise<void>) | undefined;
  /** Every batch created, oldest first. */
  readonly created: FakeBatch[] = [];
  /** Lines answered 200 so far. */
  answered = 0;
  private readonly files = new Map<string, { filename: string; purpose: string; text: string }>();
  private readonly seen = new Map<string, number>();
  private next = 0;
  private readonly chat: (body: unknown) => RouteResponse;
  private readonly error: (status: number) => RouteResponse;

  constructor(
    chat: (body: unknown) => RouteResponse,
    error: (status: number) => RouteResponse,
    options: FakeBatchesOptions = {},
  ) {
    this.chat = chat;
    this.error = error;
    this.completionDelayMs = options.completionDelayMs ?? 0;
  }

  /** Maps a request to its Batch API route. */
  static match(method: string, path: string): BatchRoute | undefined {
    if (method === 'POST' && path === '/v1/files') return 'files';
    if (method === 'GET' && /^\/v1\/files\/[^/]+\/content$/.test(path)) return 'fileContent';
    if (method === 'POST' && path === '/v1/batches') return 'batchCreate';
    if (method === 'GET' && path === '/v1/batches') return 'batchList';
    if (method === 'GET' && /^\/v1\/batches\/[^/]+$/.test(path)) return 'batchGet';
    if (method === 'POST' && /^\/v1\/batches\/[^/]+\/cancel$/.test(path)) return 'batchCancel';
    return undefined;
  }

  async handle(route: BatchRoute, request: RecordedRequest): Promise<RouteResponse> {
    const idAt = (i: number) => request.path.split('/')[i] ?? '';
    switch (route) {
      case 'files':
        return this.upload(request);
      case 'fileContent': {
        const file = this.files.get(idAt(3));
        return file ? { body: file.text } : this.notFound('file');
      }
      case 'batchCreate': {
        const answer = this.create(request.body as Record<string, unknown>);
        if (this.createResponseDelayMs > 0) {
          await new Promise((resolve) => setTimeout(resolve, this.createResponseDelayMs));
        }
        return answer;
      }
      case 'batchList':
        return this.list(request.query);
      case 'batchGet': {
        const batch = this.find(idAt(3));
        return batch ? { body: this.view(batch) } : this.notFound('batch');
      }
      case 'batchCancel': {
        const batch = this.find(idAt(3));
        if (!batch) return this.notFound('batch');
        await this.beforeCancel?.();
        if (!['completed', 'failed', 'expired', 'cancelled'].includes(batch.status)) {
          batch.status = 'cancelling';
        }
        // Cancelling takes until the next read, as with the real API.
        return { body: this.view(batch, false) };
      }
    }
  }

  private async upload(request: RecordedRequest): Promise<RouteResponse> {
    const form = await new Request('http://fake/v1/files', {
      method: 'POST',
      headers: { 'content-type': String(request.headers['content-type'] ?? '') },
      body: typeof request.body === 'string' ? request.body : '',
    }).formData();
    const file = form.get('file');
    const purpose = String(form.get('purpose') ?? '');
    if (!(file instanceof Blob) || purpose !== 'batch') {
      return { status: 400, body: { error: { message: 'file and purpose=batch are required' } } };
    }
    const id = `file-${(this.next += 1)}`;
    const filename = file instanceof File ? file.name : 'upload.jsonl';
    this.files.set(id, { filename, purpose, text: await file.text() });
    return { body: { id, object: 'file', bytes: file.size, filename, purpose, created_at: 0 } };
  }

  private create(body: Record<string, unknown>): RouteResponse {
    const file = this.files.get(String(body.input_file_id));
    if (!file) return this.notFound('input file');
    if (body.endpoint !== '/v1/chat/completions' || body.completion_window !== '24h') {
      return { status: 400, body: { error: { message: 'unsupported endpoint or window' } } };
    }
    const lines = file.text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as BatchInputLine);
    const batch: FakeBatch = {
      id: `batch_${(this.next += 1)}`,
      inputFileId: String(body.input_file_id),
      metadata: (body.metadata as Record<string, string> | undefined) ?? {},
      createdAt: Date.now(),
      status: 'validating',
      lines,
      completed: 0,
      failed: 0,
    };
    this.created.push(batch);
    return { body: this.view(batch) };
  }

  private list(query: URLSearchParams): RouteResponse {
    const limit = Number(query.get('limit') ?? 20);
    const after = query.get('after');
    const newest = [...this.created].reverse();
    const start = after ? newest.findIndex((b) => b.id === after) + 1 : 0;
    const page = newest.slice(start, start + limit);
    return {
      body: {
        object: 'list',
        data: page.map((b) => this.view(b)),
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
        has_more: start + limit < newest.length,
      },
    };
  }

  private find(id: string): FakeBatch | undefined {
    return this.created.find((b) => b.id === id);
  }

  /** The batch as the API shows it, advancing it first if its time has come. */
  private view(batch: FakeBatch, advance = true) {
    if (advance) this.advance(batch);
    const seconds = (ms: number) => Math.floor(ms / 1000);
    return {
      id: batch.id,
      object: 'batch',
      endpoint: '/v1/chat/completions',
      errors: batch.error
        ? { object: 'list', data: [{ code: 'invalid_request', message: batch.error, line: 1 }] }
        : null,
      input_file_id: batch.inputFileId,
      completion_window: '24h',
      status: batch.status,
      output_file_id: batch.outputFileId ?? null,
      error_file_id: batch.errorFileId ?? null,
      created_at: seconds(batch.createdAt),
      expires_at: seconds(batch.createdAt) + 24 * 3600,
      request_counts: {
        total: batch.lines.length,
        completed: batch.completed,
        failed: batch.failed,
      },
      metadata: batch.metadata,
    };
  }

  private advance(batch: FakeBatch): void {
    if (batch.status === 'cancelling') return this.finish(batch, 'cancelled', 0);
    if (batch.status !== 'validating' && batch.status !== 'in_progress') return;
    const invalid = batch.status === 'validating' ? this.validationError(batch) : undefined;
    if (invalid !== undefined) {
      batch.status = 'failed';
      batch.error = invalid;
      return;
    }
    if (Date.now() - batch.createdAt < this.completionDelayMs) {
      batch.status = 'in_progress';
      return;
    }
    if (this.expire(batch)) this.finish(batch, 'expired', Math.ceil(batch.lines.length / 2));
    else this.finish(batch, 'completed', batch.lines.length);
  }

  /** Runs the first `run` lines, records the rest as not reached, writes the result files. */
  private finish(batch: FakeBatch, status: string, run: number): void {
    const output: string[] = [];
    const errors: string[] = [];
    batch.lines.forEach((line, i) => {
      const id = `batch_req_${batch.id}_${i}`;
      if (i >= run) {
        if (status === 'expired') {
          errors.push(
            JSON.stringify({
              id,
              custom_id: line.custom_id,
              response: null,
              error: {
                code: 'batch_expired',
                message: 'This request could not be executed before the completion window expired.',
              },
            }),
          );
        }
        return;
      }
      const seen = (this.seen.get(line.custom_id) ?? 0) + 1;
      this.seen.set(line.custom_id, seen);
      const failWith = this.lineStatus(line, seen);
      const answer = failWith === undefined ? this.chat(line.body) : this.error(failWith);
      const code = answer.status ?? 200;
      const text = JSON.stringify({
        id,
        custom_id: line.custom_id,
        response: { status_code: code, request_id: `req_${i}`, body: answer.body },
        error: null,
      });
      if (code === 200) {
        this.answered += 1;
        batch.completed += 1;
        output.push(text);
      } else {
        batch.failed += 1;
        errors.push(text);
      }
    });
    batch.status = status;
    batch.outputFileId = this.store(output);
    batch.errorFileId = this.store(errors);
  }

  private store(lines: string[]): string | undefined {
    if (lines.length === 0) return undefined;
    const id = `file-${(this.next += 1)}`;
    this.files.set(id, {
      filename: `${id}.jsonl`,
      purpose: 'batch_output',
      text: `${lines.join('\n')}\n`,
    });
    return id;
  }

  private notFound(what: string): RouteResponse {
    return {
      status: 404,
      body: { error: { message: `no such ${what}`, type: 'invalid_request_error' } },
    };
  }
}
