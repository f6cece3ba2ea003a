import cliProgress from 'cli-progress';

import type { EvalProgress } from '../producer/eval/index.ts';

/** The eval run's live bar: done / failed / retrying, rate, ETA and current p50 latency. */
export interface EvalProgressBar {
  update(progress: EvalProgress): void;
  stop(): void;
}

/** A bar on a terminal; nothing when stderr is piped (CI logs stay clean). */
export function createEvalProgress(stream: NodeJS.WriteStream = process.stderr): EvalProgressBar {
  if (!stream.isTTY) return { update() {}, stop() {} };
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
