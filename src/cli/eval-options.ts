import { InvalidArgumentError } from 'commander';

/** A commander parser for a pass rate: `0.8`, or `80%`. */
export function rate(value: string): number {
  const text = value.trim();
  const percent = text.endsWith('%');
  const n = Number(percent ? text.slice(0, -1) : text);
  const r = percent ? n / 100 : n;
  if (text === '' || !Number.isFinite(r) || r < 0 || r > 1) {
    throw new InvalidArgumentError('must be a rate from 0 to 1 (e.g. 0.8) or a percentage (80%).');
  }
  return r;
}

/** A commander parser for an amount of US dollars, `5` or `$5`. */
export function usd(value: string): number {
  const text = value.trim().replace(/^\$/, '');
  const n = Number(text);
  if (text === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('must be a positive amount of US dollars, e.g. 5 or 0.50.');
  }
  return n;
}

/**
 * A commander parser for the repeatable `--variant name:json`: collects the values as given.
 * The command checks them (`addVariant`, before anything is enqueued) rather than the parser,
 * which would load the evaluation's modules (BullMQ, ioredis, the contracts' schemas: about
 * 200 ms) into every command, `askq --help` and `askq config` included.
 */
export function variant(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
