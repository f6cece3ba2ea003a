import { createHash, randomBytes } from 'node:crypto';
import { type BigIntStats, statSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type NamespaceSnapshot, type SnapshotRow, snapshotRow } from './namespace-snapshots.ts';

/**
 * Copies of small namespaces next to the LanceDB table, one file per namespace and table
 * version, so a process that only searches them (an eval run's in-process worker) never loads
 * LanceDB. The table stays the data: a file is only ever the namespace exactly as it stood at
 * the version in its name, and is served only while that version is still the table's latest.
 *
 * A file `X@v` comes into being in one of two ways, each exact:
 * - read from the table through a handle checked out at `v` (after this process's own write
 *   committed `v`, or by a reader that found no file for the latest version);
 * - linked from `X@(v-1)` by the writer whose commit `v` touched another namespace only.
 *
 * Layout: `<dir>/<table>.snapshots/<table identity>/<sha256(namespace)>.<version>.snap`, written to a temporary
 * name and renamed, so a reader never sees half a file. Contents: `ASKQSNP1`, the header's
 * length (u32 LE), the header as JSON (namespace, dimensions, rows without vectors),
 * padding to 4 bytes, then every row's vector as float32 in the machine's byte order (the file
 * never leaves the machine that wrote it).
 */

const MAGIC = Buffer.from('ASKQSNP1');
const SUFFIX = '.snap';

/** No version: a file carried forward by a link is the same bytes under a newer version's name. */
interface Header {
  namespace: string;
  dimensions: number;
  rows: [docId: string, chunk: number, text: string, metadata: string][];
}

/** A table's snapshot files; every method fails soft to "no file" for the caller to fall back. */
export class SnapshotFiles {
  readonly #root: string;
  readonly #dir: string;
  readonly identity: string;

  /**
   * The files of one table, told apart by its {@link tableIdentity}: a table deleted and
   * created again, or restored from a copy, numbers its versions from the start again, so files
   * are kept per table, never served across two of them.
   */
  constructor(storeDir: string, tableName: string, identity: string) {
    this.#root = join(storeDir, `${tableName}.snapshots`);
    this.#dir = join(this.#root, identity);
    this.identity = identity;
  }

  /** The namespace at `version`, or undefined when no file holds it. */
  async read(namespace: string, version: number): Promise<NamespaceSnapshot | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.#path(namespace, version));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return decode(bytes, namespace, version);
  }

  /** Keeps `snapshot` of `namespace` (a too-large one has no rows and is not written). */
  async write(namespace: string, snapshot: NamespaceSnapshot): Promise<void> {
    if (!snapshot.rows) return;
    await mkdir(this.#dir, { recursive: true });
    const target = this.#path(namespace, snapshot.version);
    const temporary = `${target}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temporary, encode(namespace, snapshot));
      await rename(temporary, target);
    } finally {
      await rm(temporary, { force: true });
    }
  }

  /**
   * After commit `version` changed `namespace` only, every other namespace stands as it did at
   * `version - 1`: their files of that version are linked to `version`.
   */
  async carryForward(namespace: string, version: number): Promise<void> {
    const previous = `.${version - 1}${SUFFIX}`;
    const own = keyOf(namespace);
    for (const name of await this.#names()) {
      if (!name.endsWith(previous) || name.startsWith(`${own}.`)) continue;
      const next = `${name.slice(0, -previous.length)}.${version}${SUFFIX}`;
      await link(join(this.#dir, name), join(this.#dir, next)).catch((err: unknown) => {
        // Already there (another writer carried it), or the old one was pruned meanwhile.
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
      });
    }
  }

  /**
   * Deletes files older than `version` (readers of the latest version never need them), and
   * those of any other table that stood under this name.
   */
  async prune(version: number): Promise<void> {
    const tables = await readdir(this.#root).catch(() => [] as string[]);
    for (const table of tables) {
      if (table !== this.identity)
        await rm(join(this.#root, table), { recursive: true, force: true });
    }
    for (const name of await this.#names()) {
      const fileVersion = Number(name.split('.')[1]);
      if (Number.isInteger(fileVersion) && fileVersion < version) {
        await rm(join(this.#dir, name), { force: true });
      }
    }
  }

  async #names(): Promise<string[]> {
    return readdir(this.#dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    });
  }

  #path(namespace: string, version: number): string {
    return join(this.#dir, `${keyOf(namespace)}.${version}${SUFFIX}`);
  }
}

/** The file-name key of a namespace: any string may name one, a hash is always a safe name. */
function keyOf(namespace: string): string {
  return createHash('sha256').update(namespace).digest('hex').slice(0, 32);
}

function encode(namespace: string, snapshot: NamespaceSnapshot): Buffer {
  const rows = snapshot.rows ?? [];
  const header: Header = {
    namespace,
    dimensions: snapshot.dimensions,
    rows: rows.map((r) => [r.docId, r.chunk, r.text, r.metadata]),
  };
  const json = Buffer.from(JSON.stringify(header));
  const offset = align4(MAGIC.length + 4 + json.length);
  const bytes = Buffer.alloc(offset + rows.length * snapshot.dimensions * 4);
  MAGIC.copy(bytes, 0);
  bytes.writeUInt32LE(json.length, MAGIC.length);
  json.copy(bytes, MAGIC.length + 4);
  const vectors = new Float32Array(bytes.buffer, bytes.byteOffset + offset);
  rows.forEach((r, i) => vectors.set(r.vector, i * snapshot.dimensions));
  return bytes;
}

function decode(bytes: Buffer, namespace: string, version: number): NamespaceSnapshot | undefined {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    return undefined;
  }
  const length = bytes.readUInt32LE(MAGIC.length);
  const header = JSON.parse(
    bytes.toString('utf8', MAGIC.length + 4, MAGIC.length + 4 + length),
  ) as Header;
  // Two namespaces whose hashes collide share a file name: the header says whose it is.
  if (header.namespace !== namespace) return undefined;
  const offset = align4(MAGIC.length + 4 + length);
  const { dimensions } = header;
  if (bytes.length !== offset + header.rows.length * dimensions * 4) return undefined;
  // A copy, aligned for Float32Array whatever offset the read buffer has.
  const vectors = new Float32Array(new Uint8Array(bytes.subarray(offset)).buffer);
  const rows: SnapshotRow[] = header.rows.map(([docId, chunk, text, metadata], i) =>
    snapshotRow(
      { docId, chunk, text, metadata },
      vectors.subarray(i * dimensions, (i + 1) * dimensions),
    ),
  );
  return { version, dimensions, rows };
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

const U64_MAX = 2n ** 64n - 1n;

/**
 * The latest version of the Lance dataset at `tableDir`, read from its `_versions` folder
 * without LanceDB: `none` when the table does not exist, `unknown` when the folder is not laid
 * out as expected (the caller then asks LanceDB). Lance names each manifest after its version,
 * either `<version>.manifest` or, in its newer scheme, `<u64::MAX - version>.manifest` padded
 * to 20 digits so the latest sorts first; a test compares this with LanceDB's own answer.
 */
export async function latestTableVersion(tableDir: string): Promise<number | 'none' | 'unknown'> {
  let names: string[];
  try {
    names = await readdir(join(tableDir, '_versions'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return 'unknown';
    const table = await stat(tableDir).catch(() => undefined);
    return table ? 'unknown' : 'none';
  }
  let latest: bigint | undefined;
  for (const name of names) {
    const digits = /^(\d+)\.manifest$/.exec(name)?.[1];
    if (digits === undefined) continue;
    const version = digits.length === 20 ? U64_MAX - BigInt(digits) : BigInt(digits);
    if (latest === undefined || version > latest) latest = version;
  }
  return latest === undefined ? 'unknown' : Number(latest);
}

/**
 * What tells one table from another that took its name: the table folder's inode and birth
 * time. A table deleted and created again, or put back from a copy, gets a new folder, and
 * with it a new identity, while its version numbers start over. Undefined when the folder
 * cannot be read (the caller then does without files).
 */
export async function tableIdentity(tableDir: string): Promise<string | undefined> {
  const folder = await stat(tableDir, { bigint: true }).catch(() => undefined);
  return folder && identityOf(folder);
}

function identityOf(folder: BigIntStats): string {
  return `${folder.ino.toString(36)}-${folder.birthtimeNs.toString(36)}`;
}

/**
 * How long after a folder's modification time a listing of it is trusted to have seen every
 * change stamped with that time. File systems stamp times from a coarse clock (the kernel's
 * tick, a few milliseconds; whole seconds or two on some), so a change made in the same tick
 * as a listing, just after it, can leave the time unchanged.
 */
const RACY_MS = { subSecond: 100, wholeSeconds: 2_000 } as const;

/**
 * The table's latest version ({@link latestTableVersion}) and identity ({@link tableIdentity})
 * as they are at the call, for a store that asks before every query: the `_versions` folder is
 * listed again only when it has changed since the last listing.
 *
 * Whether it changed is two synchronous `stat`s (microseconds on a local disk, and no turn of
 * the event loop): the table folder's identity, and the `_versions` folder's modification
 * time, which every commit (a manifest added) and every clean-up (manifests removed) moves.
 * Listing at every query instead, a `stat` and a `readdir` through libuv's thread pool, cost
 * each retrieval of a busy worker two waits in its event loop: 5 to 9 ms of a question's
 * time at concurrency 100 (bench/eval-run.ts). A listing is trusted only once the folder's
 * time is {@link RACY_MS} older than the listing (as git treats racily clean index entries),
 * so a commit stamped with the same coarse time as the listing is never missed.
 */
export class TableVersions {
  readonly #tableDir: string;
  readonly #versionsDir: string;
  #trusted: { identity: string; mtimeNs: bigint; version: number } | undefined;

  constructor(tableDir: string) {
    this.#tableDir = tableDir;
    this.#versionsDir = join(tableDir, '_versions');
  }

  async read(): Promise<{ identity: string | undefined; version: number | 'none' | 'unknown' }> {
    const table = statOrUndefined(this.#tableDir);
    const identity = table && identityOf(table);
    const versions = table && statOrUndefined(this.#versionsDir);
    const trusted = this.#trusted;
    if (trusted && trusted.identity === identity && trusted.mtimeNs === versions?.mtimeNs) {
      return { identity, version: trusted.version };
    }
    const listedAtMs = Date.now();
    const version = await latestTableVersion(this.#tableDir);
    this.#trusted =
      identity && versions && typeof version === 'number' && settled(versions, listedAtMs)
        ? { identity, mtimeNs: versions.mtimeNs, version }
        : undefined;
    return { identity, version };
  }
}

/** A folder's stat, or undefined when it cannot be read (the listing then says what it can). */
function statOrUndefined(path: string): BigIntStats | undefined {
  try {
    return statSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Whether every change stamped with the folder's time had been made when the listing began. */
function settled(folder: BigIntStats, listedAtMs: number): boolean {
  const wholeSeconds = folder.mtimeNs % 1_000_000_000n === 0n;
  const racyMs = wholeSeconds ? RACY_MS.wholeSeconds : RACY_MS.subSecond;
  return Number(folder.mtimeNs / 1_000_000n) + racyMs < listedAtMs;
}
