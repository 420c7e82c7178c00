// A caller of the service port over TLS, presenting a client certificate or none: the
// security server's side of the handshake in the client-certificate tests.

import { Agent, request } from "undici";

/** The X-Road client the calls name. */
export const TLS_CALLER_CLIENT = "EE/GOV/70000001/case-app";

/**
 * A POST of a person search to the service port at `url` over a fresh connection trusting `ca`
 * and presenting `pair` (none without it): the status, or the error the handshake ended in.
 */
export async function postOverTls(
  url: string,
  ca: string,
  pair?: { cert: string; key: string },
): Promise<number | Error> {
  const agent = new Agent({ connect: { ca, ...(pair ? { cert: pair.cert, key: pair.key } : {}) } });
  try {
    const answer = await request(`${url}/rest/personSearch`, {
      method: "POST",
      dispatcher: agent,
      headers: { "x-road-client": TLS_CALLER_CLIENT, "content-type": "application/json" },
      body: '{"personalCode":"38002242718"}',
    });
    await answer.body.text();
    return answer.statusCode;
  } catch (error) {
    return error as Error;
  } finally {
    await agent.close();
  }
}
