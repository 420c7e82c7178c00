// How far waits for something every worker asks Redis for (a rate token, an in-flight slot)
// overtake one another: counted in grants, not time, so a slow machine changes nothing.

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `held` loops, as a worker holds as many messages: each takes a turn (`take` resolves once
 * it is granted, to what ends it), keeps it `holdMs`, ends it, and takes the next, until `turns`
 * were granted in all. Resolves the most turns granted to others while one loop waited: at most
 * `held - 1` when the waits keep the order they came in.
 */
export async function mostOvertaken(
  held: number,
  turns: number,
  holdMs: number,
  take: () => Promise<(() => Promise<void>) | void>,
): Promise<number> {
  let grants = 0;
  let mostAhead = 0;
  const holders = Array.from({ length: held }, async () => {
    while (grants < turns) {
      const ticket = grants;
      const end = await take();
      mostAhead = Math.max(mostAhead, grants - ticket);
      grants++;
      await sleep(holdMs);
      await end?.();
    }
  });
  await Promise.all(holders);
  return mostAhead;
}
