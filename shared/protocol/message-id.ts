// The gateway id of an accepted message: a random (version 4) UUID, as `crypto.randomUUID`
// makes it, written as one string instead of the twenty joined ones Node builds per id.

import { randomFillSync } from "node:crypto";

/** Ids' worth of random bytes drawn at once (Node's own randomUUID caches 128). */
const IDS_PER_DRAW = 128;
const HEX = Buffer.from("0123456789abcdef", "latin1");
const DASH = 0x2d;

let entropy: Buffer | null = null;
let next = IDS_PER_DRAW;
/** The id's 36 characters, written here and read out as one string. */
const text = Buffer.alloc(36);

/**
 * A new version 4 UUID (RFC 9562 §5.4), lower-case. Node's `randomUUID` joins 16 two-digit
 * strings and four dashes one by one: about 550 bytes of short-lived strings per id on the
 * acknowledgement path, against one 36-character string here. Same entropy source.
 */
export function messageId(): string {
  if (next === IDS_PER_DRAW) {
    // Not a slice of the shared pool: nothing else reads or writes the ids' random bytes.
    entropy ??= Buffer.allocUnsafeSlow(16 * IDS_PER_DRAW);
    randomFillSync(entropy);
    next = 0;
  }
  const at = next++ * 16;
  let out = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) text[out++] = DASH;
    let byte = entropy![at + i];
    if (i === 6)
      byte = (byte & 0x0f) | 0x40; // version 4
    else if (i === 8) byte = (byte & 0x3f) | 0x80; // variant 10xx
    text[out++] = HEX[byte >> 4];
    text[out++] = HEX[byte & 0x0f];
  }
  return text.toString("latin1", 0, 36);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The message id (or hub listener id) a caller or an operator named, in the lower case Sluice
 * issues and stores it in; null when it is no UUID at all. RFC 9562 §4 has UUIDs read without
 * regard to case, and a client that prints them in upper case got 404 for its own message.
 */
export function issuedIdOf(text: string): string | null {
  return text.length === 36 && UUID.test(text) ? text.toLowerCase() : null;
}

/**
 * An id an operator named (a message, a dead letter, a dead callback, a hub listener), as
 * Sluice stores it when it is a UUID, else as written (its look-up then finds nothing). An id
 * copied in upper case from a client's log was "no such message" to `sluice messages cancel`
 * and "no such dead letter" to a replay, while the admin port's look-up found it.
 */
export function operatorIdOf(text: string): string {
  return issuedIdOf(text) ?? text;
}
