import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startTestApi, type TestApi } from '../../support/api-server.ts';

const USER = 'operator';
const PASSWORD = 'board-password-canary-78';
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

/** Bull Board over a real socket: changes only from its own origin, failed logins limited. */
describe('Bull Board hardening', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ ASKQ_BOARD_USER: USER, ASKQ_BOARD_PASSWORD: PASSWORD });
    await api.listen();
  });
  afterAll(async () => {
    await api.close();
  });

  const pause = (headers: Record<string, string>) =>
    fetch(`${api.url}/admin/queues/api/queues/questions/pause`, {
      method: 'PUT',
      headers: { ...basic(USER, PASSWORD), ...headers },
    });

  it.each([
    ['a cross-site Origin', { origin: 'https://evil.example' }],
    ['a look-alike Origin', { origin: `${'http://127.0.0.1.evil.example'}` }],
    ['Origin null', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
    ['no Origin and no Sec-Fetch-Site', {}],
  ])('refuses a change with %s (403), with the right password', async (_what, headers) => {
    const res = await pause(headers);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { type: string }).type).toBe('urn:askq:problem:forbidden');
    expect(await api.queue.isPaused()).toBe(false);
  });

  it('accepts a change from its own origin (Origin, or Sec-Fetch-Site: same-origin) and any read', async () => {
    expect((await pause({ origin: api.url })).status).toBe(200);
    expect(await api.queue.isPaused()).toBe(true);
    const resume = await fetch(`${api.url}/admin/queues/api/queues/questions/resume`, {
      method: 'PUT',
      headers: { ...basic(USER, PASSWORD), 'sec-fetch-site': 'same-origin' },
    });
    expect(resume.status).toBe(200);
    expect(await api.queue.isPaused()).toBe(false);
    const read = await fetch(`${api.url}/admin/queues/api/queues`, {
      headers: { ...basic(USER, PASSWORD), origin: 'https://evil.example' },
    });
    expect(read.status).toBe(200);
  });

  it('answers 429 after 10 failed logins a minute from one address, even to the right password', async () => {
    const page = (headers: Record<string, string>) =>
      fetch(`${api.url}/admin/queues/api/queues`, { headers });
    // A visit without credentials (the browser's first request) is not a failed login.
    for (let i = 0; i < 3; i += 1) expect((await page({})).status).toBe(401);
    for (let i = 0; i < 10; i += 1) {
      expect((await page(basic(USER, `guess-${i}`))).status).toBe(401);
    }
    const limited = await page(basic(USER, PASSWORD));
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await limited.json()) as { detail: string }).detail).toMatch(/more than 10 failed/);
    // The API's own routes are not affected.
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  });
});
