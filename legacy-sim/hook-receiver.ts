// The simulator's callback receiver on `/hooks/...`: accepts the signed status documents Sluice
// POSTs back, checks their Standard Webhooks signature when it knows the secret, and keeps the
// latest ones for `GET /hooks`, so the demo shows a callback arriving instead of a refusal.

import { verifyWebhook } from "../response-worker/webhook-signature";

export interface ReceivedHook {
  /** When it arrived, ms since the epoch. */
  at: number;
  path: string;
  webhookId: string | null;
  /** "valid", "invalid: <reason>", or "not checked" (no secret given to the simulator). */
  signature: string;
  /** The status document's message id and state, when the body is one or a hub event's. */
  id: string | null;
  state: string | null;
  bytes: number;
}

/** How many received callbacks `GET /hooks` lists. */
const KEEP = 100;

export class HookReceiver {
  private readonly received: ReceivedHook[] = [];

  constructor(
    private readonly secrets: readonly string[],
    private readonly onHook?: (hook: ReceivedHook) => void,
  ) {}

  /** Checks and records one delivery; the status to answer with (401 for a bad signature). */
  receive(
    path: string,
    headers: Record<string, string | string[] | undefined>,
    body: Buffer,
    now: number,
  ): { status: number; hook: ReceivedHook } {
    let signature = "not checked";
    if (this.secrets.length > 0) {
      const result = verifyWebhook(this.secrets, headers, body, { now });
      signature = result.valid ? "valid" : `invalid: ${result.reason}`;
    }
    let document: { id?: unknown; state?: unknown } = {};
    try {
      document = statusDocumentOf(JSON.parse(body.toString("utf8")));
    } catch {
      // Not JSON: recorded with its size only.
    }
    const webhookId = headers["webhook-id"];
    const hook: ReceivedHook = {
      at: now,
      path,
      webhookId: typeof webhookId === "string" ? webhookId : null,
      signature,
      id: typeof document.id === "string" ? document.id : null,
      state: typeof document.state === "string" ? document.state : null,
      bytes: body.length,
    };
    this.received.push(hook);
    if (this.received.length > KEEP) this.received.shift();
    this.onHook?.(hook);
    return { status: signature.startsWith("invalid") ? 401 : 200, hook };
  }

  /** The latest received callbacks, oldest first. */
  list(): ReceivedHook[] {
    return [...this.received];
  }

  reset(): void {
    this.received.length = 0;
  }
}

/** A callback's body is the status document; a hub event carries it as `event.message`. */
function statusDocumentOf(body: unknown): { id?: unknown; state?: unknown } {
  if (typeof body !== "object" || body === null) return {};
  const message = (body as { event?: { message?: unknown } }).event?.message;
  return typeof message === "object" && message !== null ? message : body;
}
