import { Pinecone } from '@pinecone-database/pinecone';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type FakePinecone, startFakePinecone } from '../../support/fake-pinecone-server.ts';
import { release, track } from '../../support/resources.ts';

/** The fake's data plane through the real SDK, for the calls the store adapter does not make. */
describe('fake Pinecone data plane', () => {
  let fake: FakePinecone;
  let pc: Pinecone;

  beforeAll(async () => {
    fake = track(await startFakePinecone(), 'fake pinecone');
    pc = new Pinecone({ apiKey: 'pcsk_self_test', maxRetries: 0 });
  });
  afterAll(async () => {
    await fake.close();
    release(fake);
  });

  it('fetches, deletes one and reports stats per namespace', async () => {
    const ns = pc.index({ host: fake.host }).namespace('self');
    await ns.upsert({
      records: [
        { id: 'a', values: [1, 0, 0], metadata: { k: 'v' } },
        { id: 'b', values: [0, 1, 0] },
      ],
    });
    const fetched = await ns.fetch({ ids: ['a', 'missing'] });
    expect(Object.keys(fetched.records)).toEqual(['a']);
    expect(fetched.records.a?.metadata).toEqual({ k: 'v' });

    await ns.deleteOne({ id: 'b' });
    const stats = await ns.describeIndexStats();
    expect(stats.namespaces?.self?.recordCount).toBe(1);
    expect(stats.dimension).toBe(3);
    expect(stats.totalRecordCount).toBe(1);
  });

  it('rejects vectors of the wrong dimension and ids over 512 bytes like Pinecone', async () => {
    const ns = pc.index({ host: fake.host }).namespace('self');
    await expect(ns.upsert({ records: [{ id: 'c', values: [1, 2] }] })).rejects.toMatchObject({
      name: 'PineconeBadRequestError',
    });
    await expect(
      ns.upsert({ records: [{ id: 'x'.repeat(513), values: [1, 2, 3] }] }),
    ).rejects.toMatchObject({ name: 'PineconeBadRequestError' });
  });

  it('paginates list results by prefix', async () => {
    const ns = pc.index({ host: fake.host }).namespace('pages');
    const records = Array.from({ length: 5 }, (_, i) => ({ id: `p#${i}`, values: [1, 0, i] }));
    await ns.upsert({ records: [...records, { id: 'q#0', values: [0, 0, 1] }] });
    const first = await ns.listPaginated({ prefix: 'p#', limit: 3 });
    expect(first.vectors?.map((v) => v.id)).toEqual(['p#0', 'p#1', 'p#2']);
    const next = first.pagination?.next;
    expect(next).toBeDefined();
    const second = await ns.listPaginated({ prefix: 'p#', limit: 3, paginationToken: next });
    expect(second.vectors?.map((v) => v.id)).toEqual(['p#3', 'p#4']);
    expect(second.pagination?.next).toBeUndefined();
  });
});
