import type { RecordedRequest, ScriptedBehaviour } from './scripted-http-server.ts';

/** A share of requests that gets one behaviour, e.g. `{ rate: 0.3, behaviour: { status: 500 } }`. */
export interface RandomFault {
  /** Share of requests, 0..1. */
  rate: number;
  behaviour: ScriptedBehaviour;
}

/** A `decide` hook for the fakes, and how often each rule fired. */
export interface RandomFaults<R extends string> {
  decide: (route: R, request: RecordedRequest) => ScriptedBehaviour | undefined;
  /** Times each rule fired, in the order given. */
  readonly fired: number[];
}

/**
 * mulberry32: a tiny seeded PRNG, so a fault run draws the same sequence every time (which
 * request gets which draw still depends on arrival order).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Fails each request to one of `routes` with the first rule its draw falls in: rules take
 * consecutive slices of [0, 1), so `[{ rate: 0.3 }, { rate: 0.05 }]` fails 30% one way and 5%
 * the other. Other routes answer normally.
 */
export function randomFaults<R extends string>(
  routes: readonly R[],
  rules: readonly RandomFault[],
  seed: number,
): RandomFaults<R> {
  const random = seededRandom(seed);
  const fired = rules.map(() => 0);
  return {
    fired,
    decide(route) {
      if (!routes.includes(route)) return undefined;
      const draw = random();
      let edge = 0;
      for (const [i, rule] of rules.entries()) {
        edge += rule.rate;
        if (draw < edge) {
          fired[i]! += 1;
          return rule.behaviour;
        }
      }
      return undefined;
    },
  };
}
