// The REST caller's X-Road-Client, X-Road-Service and X-Road-Represented-Party headers:
// identifier parts are decoded, and a part that decodes to a control character (C1 ones
// included) is a malformed header, as a SOAP caller's is.

import type { IncomingMessage } from "node:http";
import { expect } from "chai";
import { refusal } from "../support/rejection";
import { checkServiceHeader, checkSingleHeaders, readClient } from "../../adapter/xroad-client";

function request(headers: Record<string, string>): IncomingMessage {
  return {
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
    rawHeaders: Object.entries(headers).flat(),
  } as unknown as IncomingMessage;
}

describe("REST X-Road identifier headers", () => {
  it("decodes a client's parts and refuses one that decodes to a control character", () => {
    expect(readClient(request({ "X-Road-Client": "EE/GOV/1/case-app%C3%A4" }))).to.equal(
      "EE/GOV/1/case-appä",
    );
    for (const part of ["a%C2%85b", "a%C2%9Bb", "a%00b", "a%0D%0Ab", "a%7Fb"]) {
      const error = refusal(() => readClient(request({ "X-Road-Client": `EE/GOV/1/${part}` })));
      expect(error.code, part).to.equal("InvalidHeader");
    }
    // Invisible format characters: U+202E showed `EE/GOV/%E2%80%AEevil/app` as EE/GOV/ppa/live.
    for (const part of ["%E2%80%AEevil", "a%E2%80%8Bb", "%E2%81%A6x", "a%EF%BB%BFb"]) {
      const error = refusal(() => readClient(request({ "X-Road-Client": `EE/GOV/${part}/app` })));
      expect(error.code, part).to.equal("InvalidHeader");
    }
  });

  it("refuses a service part that decodes to a control character; takes a well-formed one", () => {
    checkServiceHeader(request({ "X-Road-Service": "EE/GOV/1/sub%C3%A4/order" }), "order");
    for (const part of ["%0d%0aSet-Cookie:x", "%00", "a%C2%85", "%E2%80%AEevil"]) {
      const error = refusal(() =>
        checkServiceHeader(request({ "X-Road-Service": `EE/GOV/1/${part}/order` }), "order"),
      );
      expect(error.code, part).to.equal("InvalidHeader");
      expect(error.message).to.match(/control character/);
    }
  });

  it("refuses a represented party whose parts decode to a control or a non-XML character", () => {
    for (const party of ["COM/12%2034", "COM/a%C3%A4", "COM/100%", "COM/%E0%A4%A"]) {
      checkSingleHeaders(request({ "X-Road-Represented-Party": party }));
    }
    for (const party of ["COM/a%00b", "COM/a%1Bb", "COM/a%C2%9Bb", "COM/a%EF%BF%BFb", "%7F/x"]) {
      const error = refusal(() =>
        checkSingleHeaders(request({ "X-Road-Represented-Party": party })),
      );
      expect(error.code, party).to.equal("InvalidHeader");
      expect(error.message, party).to.match(/decodes to a control character/);
    }
  });

  it("takes a represented party of one or two non-empty parts, and refuses any other (PR-REST §4.3)", () => {
    for (const party of ["12345", "COM/12345", "COM/12%2F34", ""]) {
      checkSingleHeaders(request({ "X-Road-Represented-Party": party }));
    }
    for (const party of ["EE/COM/12345", "COM//12345", "/12345", "COM/", "/", "COM/12/"]) {
      const error = refusal(() =>
        checkSingleHeaders(request({ "X-Road-Represented-Party": party })),
      );
      expect(error.code, party).to.equal("InvalidHeader");
      expect(error.message, party).to.match(/\[partyClass\/\]partyCode/);
    }
  });
});
