// The version of the installed package, as `sluice --version` and the ready line give it.

/** The version of the installed package, from its package.json. */
export function version(): string {
  return (require("../../package.json") as { version: string }).version;
}
