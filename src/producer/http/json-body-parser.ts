import { isUtf8 } from 'node:buffer';

import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';

import { HttpProblem } from './problem.ts';

/**
 * Makes JSON the only body the API reads. Fastify's own parser decodes bytes leniently
 * (invalid UTF-8 would turn into U+FFFD and be enqueued as such), so bodies arrive as bytes,
 * are checked to be UTF-8 and are parsed with secure-json-parse (what Fastify uses: no
 * prototype poisoning). Any other content type answers 415.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer;
    if (bytes.length === 0) {
      done(new HttpProblem(400, 'invalid-request', 'the request body is empty; send JSON'));
      return;
    }
    if (!isUtf8(bytes)) {
      done(new HttpProblem(400, 'invalid-request', 'the request body is not valid UTF-8'));
      return;
    }
    try {
      done(null, secureJson.parse(bytes.toString('utf8'), undefined, { protoAction: 'error' }));
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      done(
        new HttpProblem(400, 'invalid-request', `the request body is not valid JSON: ${reason}`, {
          cause: err,
        }),
      );
    }
  });
}
