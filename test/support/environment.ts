// Tests that set environment variables Sluice reads (AMQP_URL, SLUICE_ADMIN_TOKEN, …) put them
// back afterwards, so that neither the next test nor the shell's own settings see a change.

/**
 * Runs `run`, which may set and delete the environment variables `names`, then puts each back
 * as it was before (unset where it was unset), whether `run` returned or threw.
 */
export function restoringEnv<T>(names: readonly string[], run: () => T): T {
  const saved = names.map((name) => [name, process.env[name]] as const);
  try {
    return run();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}
