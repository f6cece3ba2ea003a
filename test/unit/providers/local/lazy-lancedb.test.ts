import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { connect } from '@lancedb/lancedb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { chunkId, type VectorMatch, type VectorRecord } from '../../../../src/shared/ports.ts';
import { HashingEmbeddings } from '../../../../src/worker/providers/local/hashing-embeddings.ts';
import { LanceDbVectorStore } from '../../../../src/worker/providers/local/lancedb-store.ts';
import { tableNameFor } from '../../../../src/worker/providers/local/lancedb-table.ts';
import { latestTableVersion } from '../../../../src/worker/providers/local/snapshot-files.ts';
import { release, track } from '../../../support/resources.ts';

/**
 * LanceDB's native module is loaded only by a process that needs it: one that searches a
 * namespace within the in-memory threshold reads the snapshot file written at ingest, and
 * answers exactly what LanceDB answers. Each search runs in a fresh process, which reports
 * the shared objects it loaded (Node's diagnostic report), so the check is what the operating
 * system mapped, not a flag the store sets.
 */

const run = promisify(execFile);
const storeUrl = new URL('../../../../src/worker/providers/local/lancedb-store.ts', import.meta.url)
  .href;
const embeddings = new HashingEmbeddings({ dimensions: 64 });
const embeddingId = embeddings.embeddingId;
const THRESHOLD = 5;

let dir: string;
const stores: LanceDbVectorStore[] = [];

async function openStore(inMemoryMaxRows = THRESHOLD): Promise<LanceDbVectorStore> {
  const store = track(
    await LanceDbVectorStore.open({ dir, embeddingId, inMemoryMaxRows }),
    'lancedb store',
  );
  stores.push(store);
  return store;
}

async function chunksOf(docId: string, n: number): Promise<VectorRecord[]> {
  const texts = Array.from({ length: n }, (_, i) => `${docId} part ${i} about retries and queues`);
  const vectors = await embeddings.embedDocuments(texts);
  return texts.map((text, i) => ({
    id: chunkId(docId, i),
    docId,
    chunk: i,
    text,
    values: vectors[i]!,
    metadata: { source: docId },
  }));
}

/** Searches `namespace` in a new process; says what it found and whether LanceDB was loaded. */
async function searchInChild(
  namespace: string,
  question: string,
): Promise<{ matches: VectorMatch[]; lanceDbLoaded: boolean }> {
  const script = `
    const [url, dir, embeddingId, threshold, namespace, vector] = process.argv.slice(1);
    const { LanceDbVectorStore } = await import(url);
    const store = await LanceDbVectorStore.open({ dir, embeddingId, inMemoryMaxRows: Number(threshold) });
    const matches = await store.query(namespace, JSON.parse(vector), 20);
    const objects = process.report.getReport().sharedObjects;
    await store.close();
    console.log(JSON.stringify({ matches, lanceDbLoaded: objects.some((o) => /lancedb/.test(o)) }));
  `;
  const vector = JSON.stringify(await embeddings.embedQuery(question));
  const { stdout } = await run(process.execPath, [
    '--input-type=module',
    '-e',
    script,
    storeUrl,
    dir,
    embeddingId,
    String(THRESHOLD),
    namespace,
    vector,
  ]);
  return JSON.parse(stdout) as { matches: VectorMatch[]; lanceDbLoaded: boolean };
}

/** What LanceDB's own vector search answers (threshold 0: never in memory). */
async function lanceDbAnswer(namespace: string, question: string): Promise<VectorMatch[]> {
  const store = await openStore(0);
  return store.query(namespace, await embeddings.embedQuery(question), 20);
}

function expectSameMatches(got: VectorMatch[], expected: VectorMatch[]): void {
  expect(got.map((m) => `${m.docId}#${m.chunk}`)).toEqual(
    expected.map((m) => `${m.docId}#${m.chunk}`),
  );
  got.forEach((m, i) => expect(m.score).toBeCloseTo(expected[i]!.score, 5));
  expect(got.map((m) => m.metadata)).toEqual(expected.map((m) => m.metadata));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-lazy-lancedb-'));
});

afterEach(async () => {
  for (const store of stores.splice(0)) {
    await store.close();
    release(store);
  }
  await rm(dir, { recursive: true, force: true });
});

describe('loading LanceDB only when needed', () => {
  it('searches a small namespace without LanceDB, and a larger one with it', async () => {
    const writer = await openStore();
    await writer.upsert('small', await chunksOf('small.md', 3));
    // Writes to another namespace after it: the small one's file must follow the table's version.
    await writer.upsert('big', await chunksOf('big.md', THRESHOLD + 3));
    expect(await writer.deleteChunksFrom('big', 'big.md', THRESHOLD + 1)).toBe(2);

    const small = await searchInChild('small', 'retries');
    expect(small.lanceDbLoaded).toBe(false);
    expect(small.matches).toHaveLength(3);
    expectSameMatches(small.matches, await lanceDbAnswer('small', 'retries'));

    const big = await searchInChild('big', 'retries');
    expect(big.lanceDbLoaded).toBe(true);
    expect(big.matches).toHaveLength(THRESHOLD + 1);
    expectSameMatches(big.matches, await lanceDbAnswer('big', 'retries'));
  });

  it('never serves a file the table has moved past, and renews it for the next process', async () => {
    await (await openStore()).upsert('small', await chunksOf('small.md', 2));
    // A writer that keeps no files (threshold 0) leaves the file one version behind.
    await (await openStore(0)).upsert('small', await chunksOf('later.md', 1));

    const stale = await searchInChild('small', 'retries');
    expect(stale.lanceDbLoaded).toBe(true);
    expect(stale.matches.map((m) => m.docId).sort()).toEqual(['later.md', 'small.md', 'small.md']);

    const renewed = await searchInChild('small', 'retries');
    expect(renewed.lanceDbLoaded).toBe(false);
    expectSameMatches(renewed.matches, stale.matches);
  });

  it('answers [] before anything was ingested, without LanceDB', async () => {
    const empty = await searchInChild('small', 'retries');
    expect(empty).toEqual({ matches: [], lanceDbLoaded: false });
  });

  it("reads the table's latest version from its folder as LanceDB does", async () => {
    const tableName = tableNameFor(embeddingId);
    expect(await latestTableVersion(join(dir, `${tableName}.lance`))).toBe('none');
    const store = await openStore();
    await store.upsert('a', await chunksOf('a.md', 2));
    await store.upsert('b', await chunksOf('b.md', 2));
    await store.deleteChunksFrom('a', 'a.md', 1);
    const db = await connect(dir);
    const table = await db.openTable(tableName);
    const version = await table.version().finally(() => {
      table.close();
      db.close();
    });
    expect(await latestTableVersion(join(dir, `${tableName}.lance`))).toBe(version);
    // One file per namespace is left for the latest version (older ones are pruned).
    const files = await readdir(join(dir, `${tableName}.snapshots`), { recursive: true });
    expect(files.filter((f) => f.endsWith(`.${version}.snap`))).toHaveLength(2);
  });

  it('never answers from the files of a table that was deleted and created again', async () => {
    const tableName = tableNameFor(embeddingId);
    const before = await openStore();
    await before.upsert('a', await chunksOf('old.md', 2));
    await before.upsert('b', await chunksOf('b.md', 1));
    await before.close();
    // A reset by hand: the table goes, its files stay; the new table numbers versions afresh
    // and reaches the same ones with the same writes.
    await rm(join(dir, `${tableName}.lance`), { recursive: true, force: true });
    const after = await openStore();
    await after.upsert('a', await chunksOf('new.md', 2));
    await after.upsert('c', await chunksOf('c.md', 1));
    const inChild = await searchInChild('a', 'retries and queues');
    expect(new Set(inChild.matches.map((m) => m.docId))).toEqual(new Set(['new.md']));
    const here = await after.query('a', await embeddings.embedQuery('retries'), 20);
    expect(new Set(here.map((m) => m.docId))).toEqual(new Set(['new.md']));
    // Only the live table's files are kept.
    expect(await readdir(join(dir, `${tableName}.snapshots`))).toHaveLength(1);
  });
});
