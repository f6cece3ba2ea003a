import { EventEmitter } from 'node:events';

import { describe, expect, it } from 'vitest';

import { logWorkerErrors } from '../../src/worker/redis-outage-log.ts';
import { capturingLogger } from '../support/capturing-logger.ts';

/** A connection whose status the test sets, emitting `ready` like ioredis. */
class FakeConnection extends EventEmitter {
  status = 'ready';
}

function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
}

describe('logWorkerErrors', () => {
  it('folds an outage into one line when it starts and one when Redis is back', () => {
    const { logger, lines } = capturingLogger();
    const worker = Object.assign(new EventEmitter(), { name: 'questions' });
    const connection = new FakeConnection();
    logWorkerErrors([worker], connection as never, logger);
    connection.status = 'reconnecting';
    for (let i = 0; i < 5; i += 1) worker.emit('error', refused());
    connection.status = 'ready';
    connection.emit('ready');
    expect(lines.map((l) => l.msg)).toEqual([
      expect.stringMatching(/^Redis unreachable/),
      'Redis reachable again',
    ]);
    expect(lines[1]).toMatchObject({ reconnectErrors: 4 });
  });

  it('does not start an outage for one dropped connection while the shared one answers', () => {
    const { logger, lines } = capturingLogger();
    const worker = Object.assign(new EventEmitter(), { name: 'questions' });
    const connection = new FakeConnection();
    logWorkerErrors([worker], connection as never, logger);
    worker.emit('error', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    // A later real outage is still reported: the blip left no outage behind.
    connection.status = 'reconnecting';
    worker.emit('error', refused());
    expect(lines.map((l) => l.msg)).toEqual([
      'a Redis connection dropped',
      expect.stringMatching(/^Redis unreachable/),
    ]);
  });

  it('logs any other error as it comes', () => {
    const { logger, lines } = capturingLogger();
    const worker = Object.assign(new EventEmitter(), { name: 'questions' });
    logWorkerErrors([worker], new FakeConnection() as never, logger);
    worker.emit('error', new Error('NOSCRIPT No matching script'));
    worker.emit('error', new Error('NOSCRIPT No matching script'));
    expect(lines.filter((l) => l.msg === 'worker error')).toHaveLength(2);
  });
});
