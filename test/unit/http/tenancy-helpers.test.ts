import type { IncomingMessage } from 'node:http';

import { describe, expect, it } from 'vitest';

import { fairPriority } from '../../../src/producer/fair-priority.ts';
import { requestIdOf } from '../../../src/producer/http/request-id.ts';
import { parseCancelMessage } from '../../../src/shared/tenancy/cancel-channel.ts';

describe('fairPriority', () => {
  it('grows with the questions ahead on a log scale, from 1', () => {
    expect([0, 1, 2, 3, 6, 7, 1022, 1023, 1999].map((n) => fairPriority(n, 100))).toEqual([
      1, 2, 2, 3, 3, 4, 10, 11, 11,
    ]);
  });

  it('stays below the eval priority, and at least 1', () => {
    expect(fairPriority(10_000_000, 5)).toBe(4);
    expect(fairPriority(10_000_000, 1)).toBe(1);
    expect(fairPriority(-3, 100)).toBe(1);
  });

  it("puts a key's first question ahead of another key's 11th and later", () => {
    const newcomer = fairPriority(0, 100);
    expect(fairPriority(10, 100)).toBeGreaterThan(newcomer);
  });
});

describe('requestIdOf', () => {
  const withHeader = (value: string | undefined) =>
    ({ headers: value === undefined ? {} : { 'x-request-id': value } }) as IncomingMessage;
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it("keeps a caller's sane token", () => {
    for (const id of ['abc', 'req-42', 'svc/a:b@c+d=e.f_g', 'x'.repeat(128)]) {
      expect(requestIdOf(withHeader(id))).toBe(id);
    }
  });

  it('replaces a missing, empty, long or unsafe one with a UUID', () => {
    for (const id of [undefined, '', 'x'.repeat(129), 'a b', 'line\nbreak', '<script>', 'é']) {
      expect(requestIdOf(withHeader(id))).toMatch(uuid);
    }
  });
});

describe('parseCancelMessage', () => {
  it('reads a JSON list of ids and ignores anything else', () => {
    expect(parseCancelMessage('["a","b"]')).toEqual(['a', 'b']);
    expect(parseCancelMessage('["a",1,null]')).toEqual(['a']);
    expect(parseCancelMessage('{"id":"a"}')).toEqual([]);
    expect(parseCancelMessage('not json')).toEqual([]);
  });
});
