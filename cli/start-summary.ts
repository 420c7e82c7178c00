// What the "sluice ready" line tells the person who started Sluice: the configuration file it
// runs on, the ports it listens on, and URLs worth trying first.

import path from "node:path";
import type { SluiceConfig } from "../shared/config/config";

export interface StartSummaryInput {
  configFile: string;
  config: SluiceConfig;
  /** The adapter's service port, when this process runs the adapter. */
  adapterPort: number | null;
  adminPort: number | null;
  /** The simulated legacy system's base URL, when this process runs it. */
  legacySimUrl: string | null;
}

export interface StartSummary {
  config: string;
  port?: number;
  adminPort?: number;
  legacySim?: string;
  /** URLs to try, each with what it shows. */
  try: string[];
}

/** A host to reach a listener on: a wildcard bind is reachable on loopback. */
function reachableHost(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

/** The file as given relative to the working directory when it lies under it. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), path.resolve(file));
  return relative && !relative.startsWith("..") && !path.isAbsolute(relative)
    ? relative
    : path.resolve(file);
}

export function startSummary(input: StartSummaryInput): StartSummary {
  const { config, adapterPort, adminPort, legacySimUrl } = input;
  const summary: Omit<StartSummary, "try"> = { config: displayPath(input.configFile) };
  const urls: string[] = [];
  if (adapterPort !== null) {
    summary.port = adapterPort;
    const scheme = config.adapter.tls ? "https" : "http";
    const base = `${scheme}://${reachableHost(config.adapter.host)}:${adapterPort}`;
    const services = Object.values(config.services);
    const rest = services.find((s) => s.protocols.includes("rest"));
    if (rest) urls.push(`POST ${base}/rest/${rest.code}`);
    if (services.some((s) => s.protocols.includes("soap"))) urls.push(`${base}/soap?wsdl`);
  }
  if (adminPort !== null) {
    summary.adminPort = adminPort;
    const base = `http://${reachableHost(config.admin.host)}:${adminPort}`;
    urls.push(`${base}/readyz`, `${base}/metrics`);
  }
  if (legacySimUrl !== null) {
    summary.legacySim = legacySimUrl;
    urls.push(`${legacySimUrl}/hooks (callbacks received)`);
  }
  return { ...summary, try: urls };
}
