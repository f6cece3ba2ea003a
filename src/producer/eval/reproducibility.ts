import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

import type { Reproducibility } from './run-store.ts';

/** What run.json records to make a run reproducible: the file's bytes, askq, the settings. */
export async function describeRun(
  file: string,
  settings: Omit<Reproducibility, 'fileSha256' | 'askqVersion'>,
): Promise<Reproducibility> {
  return { fileSha256: await sha256File(file), askqVersion: await askqVersion(), ...settings };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** askq's version, from its package.json (three folders up, from src/ or from dist/). */
async function askqVersion(): Promise<string> {
  const text = await readFile(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
