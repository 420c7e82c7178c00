// Private key files that every user of the machine may read: a key copied with the default
// umask (0644) works, so nothing else would tell the operator that it is exposed.

import { statSync } from "node:fs";
import type { SluiceConfig } from "./config";

/** The permission bits of a file, or null when it cannot be looked at (it may not exist here). */
export type ModeOf = (file: string) => number | null;

const systemModeOf: ModeOf = (file) => {
  try {
    return statSync(file).mode & 0o777;
  } catch {
    // Unreadable or absent: the role that reads it says so (docs/configuration.md).
    return null;
  }
};

/**
 * One warning per TLS private key (`adapter.tls.key`, a backend's, `securityServer.tls.key`)
 * that users other than its owner and group may read or write. The group is left alone: a
 * Kubernetes Secret mounted with `fsGroup` is group-readable by design (deploy/k8s, mode 0440).
 */
export function exposedKeyWarnings(config: SluiceConfig, modeOf: ModeOf = systemModeOf): string[] {
  // POSIX permission bits mean nothing on Windows, where every file reports 0666 or 0444.
  if (process.platform === "win32") return [];
  const keys: Array<[string, string | null | undefined]> = [
    ["config.adapter.tls.key", config.adapter.tls?.key],
    ...Object.values(config.backends).map((backend): [string, string | null | undefined] => [
      `config.backends.${backend.name}.tls.key`,
      backend.tls?.key,
    ]),
    ["config.securityServer.tls.key", config.securityServer?.tls?.key],
  ];
  return keys.flatMap(([where, file]) => {
    if (!file) return [];
    const mode = modeOf(file);
    if (mode === null || (mode & 0o007) === 0) return [];
    return [
      `${where}: ${file} is a private key that every user of this machine may read (mode 0${mode.toString(8)}); let only Sluice's user (and group) read it: chmod 600 ${file} (or 640)`,
    ];
  });
}
