// Mocha's root hooks (`.mocharc.json` requires this file): what every test file shares. Under
// `--parallel` a worker runs file after file, and the root hooks run around each file.

import { killOwnedChildren } from "./spawned-children";

// Source maps switched on here rather than by mocha's `enable-source-maps` option: a Node flag
// in the options makes mocha run the tests in a child process of its own, which a SIGTERM to
// mocha leaves running (mocha forwards SIGINT alone), children and all.
process.setSourceMapsEnabled(true);

export const mochaHooks = {
  /**
   * A process a file's tests started and did not stop (an after hook that timed out) is killed
   * before the next file runs, so it takes no message of another test's from the shared broker.
   */
  afterAll(): void {
    killOwnedChildren();
  },
};
