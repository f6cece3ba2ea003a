import cliProgress from 'cli-progress';

import type { EvalProgress } from '../producer/eval/index.ts';
import { SECOND } from '../shared/time.ts';

/** The eval run's live bar: done / failed / retrying, rate, ETA and current p50 latency. */
export interface EvalProgressBar {
  update(progress: EvalProgress): void;
  stop(): void;
}

/**
 * A bar on a terminal. When stderr is piped: nothing (CI logs stay clean), or with `plain` a
 * line at most every {@link PLAIN_EVERY_MS} while the counts move, and the last counts at the end.
 */
export function createEvalProgress(
  stream: NodeJS.WriteStream = process.stderr,
  options: { plain?: boolean } = {},
): EvalProgressBar {
  if (!stream.isTTY) return options.plain ? plainProgress(stream) : { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format:
        'eval [{bar}] {value}/{total} · {passed} passed · {failed} failed · {errored} errors · ' +
        '{retrying} retrying · {rate}/s · p50 {p50} · ETA {eta_formatted}',
      stream,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 200,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const startedAt = performance.now();
  let started = false;
  return {
    update(p) {
      const seconds = (performance.now() - startedAt) / 1000;
      const payload = {
        passed: p.passed,
        failed: p.failed,
        errored: p.errored,
        retrying: p.retrying,
        rate: seconds > 0 ? (p.done / seconds).toFixed(1) : '0',
        p50: p.p50Ms >= 1000 ? `${(p.p50Ms / 1000).toFixed(2)} s` : `${Math.round(p.p50Ms)} ms`,
      };
      if (!started) {
        bar.start(Math.max(p.total, 1), p.done, payload);
        started = true;
      }
      bar.setTotal(Math.max(p.total, p.done, 1));
      bar.update(p.done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** How often piped progress lines are written at most. */
export const PLAIN_EVERY_MS = 5 * SECOND;

function plainProgress(stream: NodeJS.WritableStream): EvalProgressBar {
  let last: EvalProgress | undefined;
  let writtenAt = -Infinity;
  let written: EvalProgress | undefined;
  const write = (p: EvalProgress) => {
    written = p;
    writtenAt = performance.now();
    stream.write(
      `eval: ${p.done}/${p.total} · ${p.passed} passed · ${p.failed} failed · ${p.errored} errors · ${p.retrying} retrying\n`,
    );
  };
  return {
    update(p) {
      last = p;
      if (performance.now() - writtenAt >= PLAIN_EVERY_MS) write(p);
    },
    stop() {
      if (last && last !== written) write(last);
    },
  };
}
