// Reads Kubernetes NetworkPolicies as the cluster applies them to one pod: which policies select
// it, where it may connect, and which egress rules open more than a Sluice role needs.

import { BlockList, isIPv4 } from "node:net";

export type Labels = Record<string, string>;

export interface LabelSelector {
  matchLabels?: Labels;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

export interface Peer {
  namespaceSelector?: LabelSelector;
  podSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface PolicyPort {
  port?: number | string;
  protocol?: string;
}

export interface NetworkPolicy {
  metadata: { name: string };
  spec: {
    podSelector: LabelSelector;
    policyTypes: string[];
    ingress?: { from?: Peer[]; ports?: PolicyPort[] }[];
    egress?: { to?: Peer[]; ports?: PolicyPort[] }[];
  };
}

export interface EgressRule {
  policy: string;
  to?: Peer[];
  ports?: PolicyPort[];
}

/** Whether a selector picks an object with these labels ({} picks every one). */
export function selects(selector: LabelSelector, labels: Labels): boolean {
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every(({ key, operator, values }) => {
    switch (operator) {
      case "In":
        return key in labels && (values ?? []).includes(labels[key]);
      case "NotIn":
        return !(key in labels) || !(values ?? []).includes(labels[key]);
      case "Exists":
        return key in labels;
      case "DoesNotExist":
        return !(key in labels);
      default:
        throw new Error(`unknown selector operator ${operator}`);
    }
  });
  return byLabel && byExpression;
}

/** The egress rules that apply to a pod, or null when no Egress policy selects it (open). */
export function egressRules(policies: NetworkPolicy[], labels: Labels): EgressRule[] | null {
  const mine = policies.filter(
    (p) => p.spec.policyTypes.includes("Egress") && selects(p.spec.podSelector, labels),
  );
  if (mine.length === 0) return null;
  return mine.flatMap((p) =>
    (p.spec.egress ?? []).map((rule) => ({ policy: p.metadata.name, ...rule })),
  );
}

function subnet(cidr: string): { network: string; prefix: number; family: "ipv4" | "ipv6" } {
  const [network, length] = cidr.split("/");
  const family = isIPv4(network) ? "ipv4" : "ipv6";
  return { network, prefix: Number(length ?? (family === "ipv4" ? 32 : 128)), family };
}

/** Whether CIDR block `outer` holds every address of `inner`. */
export function covers(outer: string, inner: string): boolean {
  const a = subnet(outer);
  const b = subnet(inner);
  if (a.family !== b.family || a.prefix > b.prefix) return false;
  const list = new BlockList();
  list.addSubnet(a.network, a.prefix, a.family);
  return list.check(b.network, b.family);
}

/** Whether an ipBlock admits an address (inside its cidr, outside its exceptions). */
export function admitsAddress(
  block: { cidr: string; except?: string[] },
  address: string,
): boolean {
  const host = isIPv4(address) ? `${address}/32` : `${address}/128`;
  return covers(block.cidr, host) && !(block.except ?? []).some((e) => covers(e, host));
}

/**
 * Ranges a pod must never be let out to wholesale: where the cluster's pods, Services and nodes
 * live (private and shared ranges), cloud metadata (link-local), and IPv6 forms that embed them.
 */
export const INTERNAL_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "240.0.0.0/4",
  "::ffff:0:0/96",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "2002::/16",
  "5f00::/16",
  "fc00::/7",
  "fe80::/10",
  "fec0::/10",
];

/** Wider than any one site's backend or subnet: a block this wide is "the internet". */
function wide(cidr: string): boolean {
  const { prefix, family } = subnet(cidr);
  return family === "ipv4" ? prefix < 16 : prefix < 32;
}

/**
 * What in a pod's egress opens more than one destination it needs: a rule without peers or
 * ports, a peer that is a whole namespace or the whole cluster, an ipBlock that takes in an
 * internal range, or one as wide as the internet except for `internet` (the only ports such a
 * block may be open on; callbacks go to arbitrary HTTPS hosts). No Egress policy at all is the
 * widest opening of them.
 */
export function egressProblems(
  who: string,
  rules: EgressRule[] | null,
  internet: PolicyPort[] = [],
): string[] {
  if (rules === null) return [`${who}: no Egress policy selects it, so it may connect anywhere`];
  const problems: string[] = [];
  for (const rule of rules) {
    const where = `${who} (${rule.policy})`;
    if (!rule.to?.length) problems.push(`${where}: a rule open to every destination`);
    if (!rule.ports?.length) problems.push(`${where}: a rule open on every port`);
    for (const peer of rule.to ?? []) {
      if (peer.ipBlock) {
        const { cidr, except = [] } = peer.ipBlock;
        for (const range of INTERNAL_RANGES) {
          if (covers(cidr, range) && !except.some((e) => covers(e, range))) {
            problems.push(`${where}: ${cidr} takes in ${range}`);
          }
        }
        if (wide(cidr)) {
          const allowed = (rule.ports ?? []).every((p) =>
            internet.some(
              (i) => i.port === p.port && (i.protocol ?? "TCP") === (p.protocol ?? "TCP"),
            ),
          );
          if (!allowed || !rule.ports?.length) {
            problems.push(
              `${where}: ${cidr} is the whole internet, on ${JSON.stringify(rule.ports ?? "every port")}`,
            );
          }
        }
        continue;
      }
      const pods = peer.podSelector;
      if (!pods || (!pods.matchLabels && !pods.matchExpressions) || selects(pods, {})) {
        problems.push(
          `${where}: a peer that is every pod of ${peer.namespaceSelector ? "some namespaces" : "the namespace"}`,
        );
      }
      if (peer.namespaceSelector && selects(peer.namespaceSelector, {})) {
        problems.push(`${where}: a peer in every namespace`);
      }
    }
  }
  return problems;
}

/** Whether a pod with these rules may connect to a peer `to` picks, on a port. */
export function reaches(
  rules: EgressRule[] | null,
  to: (peer: Peer) => boolean,
  port: number,
  protocol = "TCP",
): boolean {
  if (rules === null) return true;
  // A rule without peers goes everywhere, one without ports on every port.
  return rules.some(
    (rule) =>
      (!rule.to?.length || rule.to.some(to)) &&
      (!rule.ports?.length ||
        rule.ports.some(
          (p) => p.port === undefined || (p.port === port && (p.protocol ?? "TCP") === protocol),
        )),
  );
}
