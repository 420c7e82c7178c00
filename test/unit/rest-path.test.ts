// The REST sub-path check: every spelling of a step out of the backend's base path is refused,
// sound paths pass exactly as sent.

import { expect } from "chai";
import { checkedSubPath } from "../../shared/protocol/rest-path";
import { SluiceError } from "../../shared/protocol/errors";

function refusal(path: string): SluiceError {
  try {
    checkedSubPath(path);
  } catch (error) {
    return error as SluiceError;
  }
  throw new Error(`${path} was not refused`);
}

describe("REST sub-path check", () => {
  it("refuses dot segments, separators, controls and double encoding in every spelling", () => {
    for (const path of [
      "/..",
      "/../x",
      "/a/../../x",
      "/.",
      "/./x",
      "/%2e%2e/x",
      "/%2E%2e/x",
      "/.%2e/x",
      "/%2e/x",
      "/..;/x",
      "/..;jsessionid=1/x",
      // Only dots and spaces: `.` or `..` to a backend on Windows, which drops trailing ones.
      "/.../x",
      "/a/....",
      "/..%20/x",
      "/.%20./x",
      "/%20../x",
      "/..%20;x/y",
      // Before an NTFS stream's `:`, `..` to Windows.
      "/..::$INDEX_ALLOCATION/x",
      "/..%3A%3A$DATA/x",
      "/%ef%bc%8e%ef%bc%8e%ef%bc%8e/x",
      "/..%2fx",
      "/a%2Fb",
      "/..%5cx",
      "/..\\x",
      "/%252e%252e/x",
      "/a%252fb",
      "/%c0%ae%c0%ae/x",
      "/%ef%bc%8e%ef%bc%8e/x",
      "/a%ef%bc%8fb",
      "/a%00b",
      "/a%0d%0aX-Injected:1",
      "/%zz",
      "//x",
      "/a//b",
      "x",
    ]) {
      const error = refusal(path);
      expect(error.code, path).to.equal("InvalidPath");
      expect(error.status, path).to.equal(400);
    }
  });

  it("passes sound paths unchanged, a trailing slash and encoded text included", () => {
    for (const path of [
      "",
      "/",
      "/people",
      "/people/",
      "/people/J%C3%BCri/cases",
      "/files/report.v2.pdf",
      "/a..b/.x./",
      "/%20/x",
      "/a;b=c",
      "/100%25",
    ]) {
      expect(checkedSubPath(path), path).to.equal(path);
    }
  });
});
