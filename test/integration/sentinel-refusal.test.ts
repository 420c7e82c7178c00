// The start-up check names a sentinel whose TLS handshake failed over a certificate, whichever
// side refused: Sluice the sentinel's, or the sentinel Sluice's (TLS 1.3 tells the client so after
// its side of the handshake). Each case is asked several times: the second used to be named only
// when the alert was read before the reset of a connection written to at once.
// A Redis server over TLS stands in for the sentinel: the probe is the handshake alone.

import { expect } from "chai";
import { readFileSync } from "node:fs";
import { sentinelTlsRefusal } from "../../shared/store/sentinel-refusal";
import type { ConnectionTlsOptions } from "../../shared/config/connection-tls";
import {
  isCertificateRefusal,
  isClientCertificateRefusal,
} from "../../shared/runtime/startup-error";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";
import { freePort, PrivateRedis } from "../e2e/ops-support";

const TIMES = 8;

describe("a sentinel's TLS refusal, named at start (real TLS server)", function () {
  this.timeout(60_000);
  let pki: TestPki;
  let server: PrivateRedis;

  before(async () => {
    pki = createTestPki();
    const cert = pki.ca.issue("sentinel");
    server = await PrivateRedis.start({
      tls: { ...cert, caFile: pki.ca.certFile, clientCertRequired: true },
    });
  });
  after(async () => {
    await server?.remove();
    pki?.cleanup();
  });

  function tlsWith(client: KeyPair | null, trusted = pki.ca.certFile): ConnectionTlsOptions {
    const options: ConnectionTlsOptions = { ca: [readFileSync(trusted)] };
    if (client) {
      options.cert = Buffer.from(client.cert);
      options.key = Buffer.from(client.key);
    }
    return options;
  }

  async function refusals(tls: ConnectionTlsOptions, port = server.port) {
    const found = [];
    for (let time = 0; time < TIMES; time++) {
      found.push(
        await sentinelTlsRefusal({ sentinels: [{ host: "127.0.0.1", port }] }, tls, 5_000),
      );
    }
    return found;
  }

  it("names the sentinel refusing a client certificate another CA issued, every time", async () => {
    for (const refusal of await refusals(tlsWith(pki.otherCa.issue("sluice")))) {
      expect(refusal?.sentinel).to.equal(`127.0.0.1:${server.port}`);
      expect(isClientCertificateRefusal(refusal?.error), String(refusal?.error)).to.equal(true);
    }
  });

  it("names the sentinel refusing a client without a certificate, every time", async () => {
    for (const refusal of await refusals(tlsWith(null))) {
      expect(isClientCertificateRefusal(refusal?.error), String(refusal?.error)).to.equal(true);
    }
  });

  it("names a sentinel whose certificate Sluice does not trust", async () => {
    const tls = tlsWith(pki.ca.issue("sluice"), pki.otherCa.certFile);
    for (const refusal of await refusals(tls)) {
      expect(isCertificateRefusal(refusal?.error), String(refusal?.error)).to.equal(true);
    }
  });

  it("finds no refusal where both certificates are accepted, or nothing listens", async () => {
    expect(await refusals(tlsWith(pki.ca.issue("sluice")))).to.deep.equal(Array(TIMES).fill(null));
    const closed = await freePort();
    expect(await refusals(tlsWith(null), closed)).to.deep.equal(Array(TIMES).fill(null));
  });
});
