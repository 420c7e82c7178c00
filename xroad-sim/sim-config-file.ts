// Reads the simulator's configuration file (YAML or JSON): certificate and key entries name PEM
// files relative to the file, each read and parsed at once so a bad one is named in one line.

import { createPrivateKey, X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { substituteEnv } from "../shared/config/config";
import type {
  ClientStatus,
  ConnectionType,
  Pem,
  XroadSimOptions,
  XroadSimServiceOptions,
} from "./sim-options";

export class SimConfigError extends Error {
  override name = "SimConfigError";
}

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

/** What YAML made of a value, for a message refusing it. */
function kindOf(value: unknown): string {
  if (value === null) return "empty";
  if (Array.isArray(value)) return "a list";
  return typeof value === "object" ? "a mapping" : `the ${typeof value} ${String(value)}`;
}

/** Reads a PEM file and checks it holds what it should; the error names the file. */
export function readPemFile(file: string, kind: "certificate" | "key"): Buffer {
  let pem: Buffer;
  try {
    pem = fs.readFileSync(file);
  } catch (error) {
    throw new SimConfigError(
      `cannot read ${kind} file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    if (kind === "key") createPrivateKey(pem);
    else new X509Certificate(pem);
  } catch {
    throw new SimConfigError(
      `${kind} file ${file} does not hold a PEM ${kind === "key" ? "private key" : "certificate"}`,
    );
  }
  return pem;
}

/**
 * Loads a simulator configuration file into start options. `${NAME:-default}` is filled from
 * the environment as in Sluice's own file, so the demo's one file serves a laptop (loopback)
 * and Compose (service names).
 */
export function loadSimConfig(file: string, env: NodeJS.ProcessEnv = process.env): XroadSimOptions {
  let raw: unknown;
  try {
    raw = YAML.parse(substituteEnv(fs.readFileSync(file, "utf8"), env));
  } catch (error) {
    throw new SimConfigError(`cannot read ${file}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (!isObject(raw)) throw new SimConfigError(`${file}: expected a mapping`);
  const dir = path.dirname(path.resolve(file));
  const pem = (value: unknown, where: string, kind: "certificate" | "key"): Pem => {
    if (typeof value !== "string" || value === "") {
      throw new SimConfigError(`${file}: ${where} must name a PEM file`);
    }
    return readPemFile(path.resolve(dir, value), kind);
  };
  const pems = (value: unknown, where: string): Pem[] =>
    (Array.isArray(value) ? value : [value]).map((v, i) => pem(v, `${where}[${i}]`, "certificate"));

  const options: XroadSimOptions = {};
  if (raw.host !== undefined) options.host = String(raw.host);
  if (raw.port !== undefined) options.port = Number(raw.port);
  if (raw.timeout !== undefined) options.timeout = raw.timeout as string;
  if (raw.maxBodyBytes !== undefined) options.maxBodyBytes = Number(raw.maxBodyBytes);
  if (isObject(raw.tls)) {
    options.tls = {
      cert: pem(raw.tls.cert, "tls.cert", "certificate"),
      key: pem(raw.tls.key, "tls.key", "key"),
    };
    // A security server has no CA for its clients; refused rather than dropped, so an older
    // file does not quietly let every caller in.
    if (raw.tls.clientCa !== undefined) {
      throw new SimConfigError(
        `${file}: tls.clientCa is gone: list each client's certificates under clients (docs/xroad-sim.md)`,
      );
    }
  }
  // Anything but a mapping (a list of ids, a string) is refused, not dropped: without clients
  // the simulator takes every client, the very refusals the file was meant to set up.
  if (raw.clients !== undefined && raw.clients !== null && !isObject(raw.clients)) {
    throw new SimConfigError(
      `${file}: clients must be a mapping of client ids to their settings (docs/xroad-sim.md)`,
    );
  }
  if (isObject(raw.clients)) {
    options.clients = {};
    for (const [id, value] of Object.entries(raw.clients)) {
      if (!isObject(value)) throw new SimConfigError(`${file}: clients.${id} must be a mapping`);
      options.clients[id] = {
        ...(value.status !== undefined ? { status: value.status as ClientStatus } : {}),
        ...(value.connectionType !== undefined
          ? { connectionType: value.connectionType as ConnectionType }
          : {}),
        ...(value.certificates !== undefined
          ? { certificates: pems(value.certificates, `clients.${id}.certificates`) }
          : {}),
      };
    }
  }
  if (raw.members !== undefined && raw.members !== null) {
    // Refused rather than dropped: without members every provider is served.
    if (!Array.isArray(raw.members)) {
      throw new SimConfigError(
        `${file}: members must be a list of provider ids (docs/xroad-sim.md)`,
      );
    }
    // An id written as a mapping (instance:, memberClass:, …) was read as "[object Object]"
    // and refused with that text, which does not say which entry or why.
    raw.members.forEach((member, index) => {
      if (typeof member !== "string") {
        throw new SimConfigError(
          `${file}: members[${index}] must be an id INSTANCE/CLASS/MEMBER[/SUBSYSTEM] written as one string, not ${kindOf(member)}`,
        );
      }
    });
    options.members = raw.members as string[];
  }
  if (raw.securityServer !== undefined && raw.securityServer !== null) {
    if (typeof raw.securityServer !== "string") {
      throw new SimConfigError(
        `${file}: securityServer must be an id INSTANCE/CLASS/MEMBER/SERVERCODE written as one string, not ${kindOf(raw.securityServer)}`,
      );
    }
    options.securityServer = raw.securityServer;
  }
  if (isObject(raw.internalTls)) {
    options.internalTls = {
      cert: pem(raw.internalTls.cert, "internalTls.cert", "certificate"),
      key: pem(raw.internalTls.key, "internalTls.key", "key"),
    };
  }
  options.services = {};
  for (const [id, value] of Object.entries(isObject(raw.services) ? raw.services : {})) {
    if (!isObject(value)) throw new SimConfigError(`${file}: services.${id} must be a mapping`);
    const service: XroadSimServiceOptions = { url: String(value.url ?? "") };
    if (value.type !== undefined) service.type = value.type as "rest" | "soap";
    if (value.timeout !== undefined) service.timeout = value.timeout as string;
    if (value.descriptionUrl !== undefined) service.descriptionUrl = String(value.descriptionUrl);
    if (value.endpoints !== undefined) {
      if (!Array.isArray(value.endpoints)) {
        throw new SimConfigError(`${file}: services.${id}.endpoints must be a list`);
      }
      service.endpoints = value.endpoints as XroadSimServiceOptions["endpoints"];
    }
    if (value.disabled === true) service.disabled = {};
    else if (isObject(value.disabled)) {
      service.disabled =
        value.disabled.notice === undefined ? {} : { notice: String(value.disabled.notice) };
    } else if (value.disabled !== undefined && value.disabled !== false) {
      throw new SimConfigError(
        `${file}: services.${id}.disabled must be true or a mapping with its notice`,
      );
    }
    if (Array.isArray(value.allowedClients))
      service.allowedClients = value.allowedClients.map(String);
    if (isObject(value.tls)) {
      const t = value.tls;
      service.tls = {};
      if (t.ca !== undefined) service.tls.ca = pems(t.ca, `services.${id}.tls.ca`);
      if (t.cert !== undefined)
        service.tls.cert = pem(t.cert, `services.${id}.tls.cert`, "certificate");
      if (t.key !== undefined) service.tls.key = pem(t.key, `services.${id}.tls.key`, "key");
      if (t.verify !== undefined) service.tls.verify = t.verify !== false;
    }
    options.services[id] = service;
  }
  return options;
}
