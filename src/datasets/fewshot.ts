/** The reference's few-shot prompts for the datasets whose difficulty is measured with models. */
import { Rng } from "../util/rng.ts";

/** Split off a few-shot pool of min(50, n/2) examples (HF train_test_split: shuffled). */
export function splitFewShotPool<T>(items: T[], rng: Rng): { rest: T[]; pool: T[] } {
  const shuffled = rng.shuffle(items.slice());
  const nPool = Math.min(50, Math.floor(items.length / 2));
  return { pool: shuffled.slice(0, nPool), rest: shuffled.slice(nPool) };
}

/**
 * A prompt with `nShots` demonstrations, as balanced between classes as possible (which class
 * gets the extra shot is random), in random order, each followed by its answer choice.
 */
export function fewShotPrompt<T>(
  zeroShot: string,
  negPool: T[],
  posPool: T[],
  demo: (ex: T) => string,
  rng: Rng,
  nShots = 5,
): string {
  const [nPos, nNeg] = rng.sample([Math.floor(nShots / 2), Math.floor((nShots + 1) / 2)], 2);
  const demos: string[] = [];
  for (const [pool, n] of [[negPool, nNeg], [posPool, nPos]] as const) {
    rng.shuffle(pool);
    for (const ex of pool.slice(0, n)) demos.push(demo(ex));
  }
  rng.shuffle(demos);
  return demos.length > 0 ? `${demos.join("\n\n")}\n\n${zeroShot}` : zeroShot;
}
