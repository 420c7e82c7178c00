// Standard Webhooks signatures (https://www.standardwebhooks.com): what Sluice puts on every
// callback and hub event, and the matching check a receiver runs (also used by our tests).

import { createHmac, timingSafeEqual } from "node:crypto";

export type WebhookHeaders = {
  "webhook-id": string;
  "webhook-timestamp": string;
  "webhook-signature": string;
};

const PREFIX = "whsec_";

/**
 * The problem with a configured secret, or null when it is usable: `whsec_` followed by base64
 * of 24 to 64 random bytes, as the standard recommends.
 */
export function secretProblem(secret: unknown): string | null {
  if (typeof secret !== "string" || !secret.startsWith(PREFIX)) {
    return "must be a string starting with whsec_";
  }
  const encoded = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    return "must be whsec_ followed by base64";
  }
  const bytes = Buffer.from(encoded, "base64").length;
  if (bytes < 24 || bytes > 64) return `must hold 24 to 64 bytes, not ${bytes}`;
  return null;
}

/** The HMAC key of a secret: the base64-decoded part after `whsec_` (the prefix is optional). */
export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64");
}

/** One `v1,<base64>` signature of `${id}.${timestamp}.${body}`. */
export function signature(
  secret: string,
  id: string,
  timestamp: number,
  body: string | Buffer,
): string {
  const hmac = createHmac("sha256", secretKey(secret));
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(body);
  return `v1,${hmac.digest("base64")}`;
}

/**
 * The three headers for one delivery attempt. With several secrets (rotation) the signature
 * header holds one signature per secret, space-separated, so receivers holding either the old
 * or the new secret accept it.
 */
export function signWebhook(
  secrets: readonly string[],
  id: string,
  body: string | Buffer,
  now: number = Date.now(),
): WebhookHeaders {
  if (secrets.length === 0) throw new Error("no webhook secret configured");
  const timestamp = Math.floor(now / 1000);
  return {
    "webhook-id": id,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": secrets.map((s) => signature(s, id, timestamp, body)).join(" "),
  };
}

export type VerifyResult = { valid: true } | { valid: false; reason: string };

/**
 * Receiver side: checks the headers of a request against the raw body bytes as received.
 * Accepts when any `v1` signature matches any of the given secrets and the timestamp is within
 * `toleranceSeconds` of now (both directions), which bounds replays.
 */
export function verifyWebhook(
  secrets: string | readonly string[],
  headers: Record<string, string | string[] | undefined>,
  body: string | Buffer,
  options: { toleranceSeconds?: number; now?: number } = {},
): VerifyResult {
  const header = (name: string) => {
    const value = headers[name] ?? headers[name.toLowerCase()];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = header("webhook-id");
  const timestampText = header("webhook-timestamp");
  const signatures = header("webhook-signature");
  if (!id || !timestampText || !signatures) return { valid: false, reason: "missing header" };
  if (!/^\d+$/.test(timestampText)) return { valid: false, reason: "invalid timestamp" };
  const timestamp = Number(timestampText);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) {
    return { valid: false, reason: "timestamp outside tolerance" };
  }
  const expected = (typeof secrets === "string" ? [secrets] : secrets).map((secret) =>
    Buffer.from(signature(secret, id, timestamp, body).slice(3), "base64"),
  );
  for (const candidate of signatures.split(" ")) {
    const [version, value] = candidate.split(",", 2);
    if (version !== "v1" || !value) continue;
    const given = Buffer.from(value, "base64");
    if (expected.some((e) => e.length === given.length && timingSafeEqual(e, given))) {
      return { valid: true };
    }
  }
  return { valid: false, reason: "no matching signature" };
}
