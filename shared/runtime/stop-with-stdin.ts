// The stop a parent that may die without a word asks for (a test run killed with SIGKILL): it
// holds this process's stdin, which ends when it dies. Sluice's roles and both simulators share it.

/**
 * Calls `stop` once stdin ends, when `SLUICE_STOP_WITH_STDIN=1` asks for it; only then, since a
 * service's stdin is often /dev/null, which ends at once. Returns what stops the listening.
 */
export function stopWithStdin(stop: () => void, env: NodeJS.ProcessEnv = process.env): () => void {
  if (env.SLUICE_STOP_WITH_STDIN !== "1") return () => undefined;
  process.stdin.once("end", stop).resume();
  // Read without holding the process up: one that closed its servers on a signal exits as before.
  (process.stdin as { unref?: () => void }).unref?.();
  return () => process.stdin.off("end", stop);
}
