// Every fetch of a suite on a connection of its own, so that no request is sent on a kept-alive
// connection at the moment the server closes it as idle.

import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from "undici";

/**
 * In the enclosing describe block, `fetch` (and undici's `request` without a dispatcher, which
 * sends on the same global pool) opens a new connection per request and closes it after the
 * answer. A kept-alive connection is reused while the client believes it idle for
 * less than the server's keep-alive timeout (5 s, announced in `Keep-Alive`): on a loaded
 * machine the client's idle timer runs late, the request goes out on a connection the server
 * has just closed, and fetch fails with "other side closed" or ECONNRESET, whatever was sent.
 */
export function freshConnectionPerFetch(): void {
  let previous: Dispatcher | undefined;
  let agent: Agent | undefined;
  before(() => {
    // Node's own fetch sends through the dispatcher undici's setGlobalDispatcher sets.
    previous = getGlobalDispatcher();
    // pipelining 0: no request ever shares or reuses a connection.
    agent = new Agent({ pipelining: 0 });
    setGlobalDispatcher(agent);
  });
  after(async () => {
    if (previous) setGlobalDispatcher(previous);
    await agent?.close();
  });
}
