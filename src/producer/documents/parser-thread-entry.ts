/**
 * Entry of the parser thread (see {@link DocumentParser}): parses one file per message, off
 * the CLI's event loop, so a hostile file can be stopped by terminating the thread.
 */
import { parentPort } from 'node:worker_threads';

import { parseDocx } from './parse-docx.ts';
import { decodeHtml, parseHtml } from './parse-html.ts';
import { parsePdf } from './parse-pdf.ts';
import type { ParseReply, ParseRequest } from './parser-protocol.ts';
import type { TextPart } from './text-part.ts';

function parse(request: ParseRequest): Promise<TextPart[]> | TextPart[] {
  switch (request.format) {
    case 'pdf':
      return parsePdf(request.bytes);
    case 'docx':
      return parseDocx(request.bytes);
    case 'html':
      return parseHtml(decodeHtml(request.bytes));
  }
}

parentPort?.on('message', (request: ParseRequest) => {
  const reply = (message: ParseReply) => parentPort?.postMessage(message);
  Promise.resolve()
    .then(() => parse(request))
    .then(
      (parts) => reply({ id: request.id, parts }),
      (err: unknown) => reply({ id: request.id, error: (err as Error).message ?? String(err) }),
    );
});
