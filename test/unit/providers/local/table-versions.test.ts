import { mkdir, mkdtemp, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { TableVersions } from '../../../../src/worker/providers/local/snapshot-files.ts';

/**
 * The store asks for the table's latest version before every query; TableVersions lists the
 * `_versions` folder again only when its modification time moved, and never trusts a listing
 * of a folder stamped so recently that a change in the same clock tick could hide behind the
 * same time. Manifests are written here by hand in Lance's older naming (`<version>.manifest`);
 * that the names are read as LanceDB reads them is lazy-lancedb.test.ts's check.
 */

let dir: string;
let table: string;
let versionsDir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'askq-table-versions-'));
  table = join(dir, 'chunks.lance');
  versionsDir = join(table, '_versions');
  await mkdir(versionsDir, { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function commit(version: number): Promise<void> {
  await writeFile(join(versionsDir, `${version}.manifest`), '');
}

/** Stamps the `_versions` folder with `at` (seconds since the epoch, fractions kept). */
async function stampVersions(at: number): Promise<void> {
  await utimes(versionsDir, at, at);
}

/** Commits `version` and leaves the folder's time at `at`, as a commit in the same tick would. */
async function commitStamped(version: number, at: number): Promise<void> {
  await commit(version);
  await stampVersions(at);
}

describe('TableVersions', () => {
  it('says none for a table that does not exist, and the latest version of one that does', async () => {
    expect((await new TableVersions(join(dir, 'other.lance')).read()).version).toBe('none');
    await commit(1);
    await commit(2);
    const read = await new TableVersions(table).read();
    expect(read.version).toBe(2);
    expect(read.identity).toMatch(/^[0-9a-z]+-[0-9a-z]+$/);
  });

  it('leaves a folder it cannot read to the caller, as unknown, instead of throwing', async () => {
    // A link to itself: every stat of it fails with ELOOP, not with "no such file".
    const loop = join(dir, 'loop.lance');
    await symlink(loop, loop);
    expect(await new TableVersions(loop).read()).toEqual({
      identity: undefined,
      version: 'unknown',
    });
  });

  it('sees a commit made just after a listing, though the folder keeps the same time', async () => {
    const versions = new TableVersions(table);
    await commit(1);
    // A time within the racy window: a commit in the same tick would not move it.
    const now = Date.now() / 1000;
    await stampVersions(now);
    expect((await versions.read()).version).toBe(1);
    await commitStamped(2, now);
    expect((await versions.read()).version).toBe(2);
  });

  it('lists again only when the folder changed, once its time is old enough to trust', async () => {
    const versions = new TableVersions(table);
    await commit(1);
    const settled = Date.now() / 1000 - 10.25;
    await stampVersions(settled);
    expect((await versions.read()).version).toBe(1);
    // A manifest that arrived without moving the folder's time is not looked for: the
    // listing of a settled folder is reused. No file system does this; it shows the reuse.
    await commitStamped(2, settled);
    expect((await versions.read()).version).toBe(1);
    // Any change of the time (what every commit and clean-up makes) lists again.
    await stampVersions(settled + 1);
    expect((await versions.read()).version).toBe(2);
    // Including a clean-up that removed the newest manifest.
    await rm(join(versionsDir, '2.manifest'));
    expect((await versions.read()).version).toBe(1);
  });

  it('waits two seconds before trusting a folder stamped in whole seconds', async () => {
    const versions = new TableVersions(table);
    await commit(1);
    const oneSecondAgo = Math.floor(Date.now() / 1000) - 1;
    await stampVersions(oneSecondAgo);
    expect((await stat(versionsDir, { bigint: true })).mtimeNs % 1_000_000_000n).toBe(0n);
    expect((await versions.read()).version).toBe(1);
    await commitStamped(2, oneSecondAgo);
    expect((await versions.read()).version).toBe(2);

    const threeSecondsAgo = oneSecondAgo - 2;
    await stampVersions(threeSecondsAgo);
    expect((await versions.read()).version).toBe(2);
    await commitStamped(3, threeSecondsAgo);
    expect((await versions.read()).version).toBe(2);
  });

  it('lists again when the table folder is another one under the same name', async () => {
    const versions = new TableVersions(table);
    await commit(5);
    const settled = Date.now() / 1000 - 10.25;
    await stampVersions(settled);
    const before = await versions.read();
    expect(before.version).toBe(5);
    // The table moved aside and a new one made in its place; the old folder is kept, so the
    // new one cannot reuse its inode, and the new `_versions` gets the old folder's time.
    await rm(join(dir, 'old.lance'), { recursive: true, force: true });
    await rename(table, join(dir, 'old.lance'));
    await mkdir(versionsDir, { recursive: true });
    await commitStamped(1, settled);
    const after = await versions.read();
    expect(after.identity).not.toBe(before.identity);
    expect(after.version).toBe(1);
  });
});
