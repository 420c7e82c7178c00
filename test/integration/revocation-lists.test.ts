// A block's revocation lists checked against its CAs: each CA's subject is read once per check,
// however many lists the block names.

import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";
import { checkRevocationLists } from "../../shared/config/revocation-lists";
import { createTestPki, type TestPki } from "../support/test-pki";

describe("revocation lists checked against a block's CAs", () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());

  it("parses each CA's certificate once per check, not once per list", () => {
    const lists = [pki.ca, pki.otherCa].map((ca, i) => {
      const file = ca.crl(path.join(pki.dir, `crl-once-${i}.pem`));
      return { file, pem: fs.readFileSync(file) };
    });
    const certs = [pki.ca.cert, pki.otherCa.cert].map((pem) => new X509Certificate(pem));
    const parse = AsnConvert.parse.bind(AsnConvert);
    let certificatesParsed = 0;
    AsnConvert.parse = ((data, target) => {
      if (target === Certificate) certificatesParsed += 1;
      return parse(data, target);
    }) as typeof AsnConvert.parse;
    try {
      const report = checkRevocationLists(lists, certs, "amqpTls.crl", 0);
      expect(report.coverage.missing).to.deep.equal([]);
    } finally {
      AsnConvert.parse = parse;
    }
    expect(certificatesParsed).to.equal(certs.length);
  });
});
