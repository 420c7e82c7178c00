// Which information system may speak as which client, as X-Road's client proxy decides it: the
// TLS handshake takes any certificate, and the client the request names is then checked against
// its connection type and its "Information System TLS certificates" (ug-ss §9.1).

import type { X509Certificate } from "node:crypto";
import { certificatesOf } from "../shared/config/tls-files";
import { clientText } from "./provider-services";
import {
  isClientId,
  type ClientStatus,
  type ConnectionType,
  type XroadSimClientOptions,
} from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface CompiledClient {
  status: ClientStatus;
  connectionType: ConnectionType;
  certificates: X509Certificate[];
}

const TYPES: ConnectionType[] = ["HTTP", "HTTPS_NO_AUTH", "HTTPS"];
const STATUSES: ClientStatus[] = [
  "REGISTERED",
  "SAVED",
  "REGISTRATION_IN_PROGRESS",
  "DELETION_IN_PROGRESS",
  "GLOBAL_ERROR",
  "DISABLED",
  "DISABLING_IN_PROGRESS",
  "ENABLING_IN_PROGRESS",
];

/** Compiles the clients' settings by id; returns the problems instead when there are any. */
export function compileClients(
  all: Record<string, XroadSimClientOptions>,
): Map<string, CompiledClient> | string[] {
  const problems: string[] = [];
  const clients = new Map<string, CompiledClient>();
  for (const [id, options] of Object.entries(all)) {
    // A request names its client as INSTANCE/CLASS/MEMBER[/SUBSYSTEM]: an id written otherwise
    // (`SUBSYSTEM:EE/…`, a trailing space) would never match one and refuse that client
    // UnknownMember with nothing to say why.
    if (!isClientId(id)) {
      problems.push(
        `client ${JSON.stringify(id)}: not INSTANCE/CLASS/MEMBER[/SUBSYSTEM] of X-Road identifier characters (PR-REST §4.8)`,
      );
      continue;
    }
    const connectionType = options.connectionType ?? "HTTPS";
    if (!TYPES.includes(connectionType)) {
      problems.push(`client ${id}: connectionType must be one of ${TYPES.join(", ")}`);
      continue;
    }
    const status = options.status ?? "REGISTERED";
    if (!STATUSES.includes(status)) {
      problems.push(`client ${id}: status must be one of ${STATUSES.join(", ")}`);
      continue;
    }
    const pems = options.certificates === undefined ? [] : [options.certificates].flat();
    clients.set(id, { status, connectionType, certificates: certificatesOf(pems) });
  }
  return problems.length > 0 ? problems : clients;
}

/**
 * X-Road's first check of the client a request names, before its authentication
 * (AbstractClientMessageProcessor.verifyClientStatus, REST and SOAP alike): a client the
 * security server does not have, or has in a status other than REGISTERED (added but not yet
 * registered, being deleted, disabled…), is answered `Server.ClientProxy.UnknownMember` with
 * the same message either way. `clients` is
 * null for a simulator given no `clients` at all: it knows none of its clients and takes every
 * one, so the demo and a consumer's tests need no list.
 */
export function requireKnownClient(
  clients: ReadonlyMap<string, CompiledClient> | null,
  clientId: string,
): void {
  if (clients && clients.get(clientId)?.status !== "REGISTERED") {
    throw new XroadError(
      "Server.ClientProxy.UnknownMember",
      `Client '${clientText(clientId)}' not found`,
    );
  }
}

/**
 * X-Road's check of the client a request names (MessageProcessorBase.verifyClientAuthentication,
 * proxy-core): HTTPS wants the certificate the information system presented to be one of the
 * client's own, compared as it is (a CA listed admits nothing; an expired one is only logged
 * unless enforce-client-is-cert-validity-period-check is set); HTTPS_NO_AUTH wants TLS; HTTP
 * admits any connection. A client the simulator was not told of is HTTP: only a simulator
 * without `clients` lets one through (requireKnownClient).
 */
export function authenticateClient(
  client: CompiledClient | undefined,
  clientId: string,
  peer: X509Certificate | null,
  overTls: boolean,
): void {
  if (!client || client.connectionType === "HTTP") return;
  const named = clientText(clientId);
  const refuse = (message: string): never => {
    throw new XroadError("Server.ClientProxy.SslAuthenticationFailed", message);
  };
  if (!overTls) {
    refuse(
      client.connectionType === "HTTPS_NO_AUTH"
        ? `Client (${named}) specifies HTTPS NO AUTH but client made plaintext connection`
        : `Client (${named}) specifies HTTPS but did not supply TLS certificate`,
    );
  }
  if (client.connectionType === "HTTPS_NO_AUTH") return;
  if (!peer) refuse(`Client (${named}) specifies HTTPS but did not supply TLS certificate`);
  if (client.certificates.length === 0) refuse(`Client (${named}) has no IS certificates`);
  if (!client.certificates.some((cert) => cert.raw.equals((peer as X509Certificate).raw))) {
    refuse(`Client (${named}) TLS certificate does not match any IS certificates`);
  }
}
