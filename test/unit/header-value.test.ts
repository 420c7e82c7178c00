import { expect } from "chai";
import { validateHeaderValue } from "node:http";
import { decodeHttpHeaderValue, httpHeaderValue } from "../../shared/protocol/header-value";

describe("X-Road header values over HTTP", () => {
  it("leaves what HTTP carries as it is: ASCII and ISO-8859-1 (as before)", () => {
    for (const value of ["EE:PIN:38002242718", "Tõnu Jüri", "a\tb", "x'y%20z"]) {
      expect(httpHeaderValue(value)).to.equal(value);
      expect(decodeHttpHeaderValue(value)).to.equal(value);
    }
  });

  it("encodes beyond ISO-8859-1 and control characters as RFC 8187 UTF-8'' values, reversibly", () => {
    expect(httpHeaderValue("Šž")).to.equal("UTF-8''%C5%A0%C5%BE");
    for (const value of ["EE:PIN:Šimon Žemaitis", "Иван Петров", "issue 😀 №5 a+b", "a\nb\u0000"]) {
      const sent = httpHeaderValue(value);
      expect(sent).to.match(/^UTF-8''[A-Za-z0-9!#$&\-.^_`|~%]*$/);
      expect(decodeURIComponent(sent.slice("UTF-8''".length))).to.equal(value);
      expect(() => validateHeaderValue("x-road-userid", sent)).to.not.throw();
      expect(decodeHttpHeaderValue(sent)).to.equal(value);
    }
  });

  it("encodes a value that starts with the marker itself, so the marker is never ambiguous", () => {
    const value = "utf-8''%41";
    const sent = httpHeaderValue(value);
    expect(sent).to.equal("UTF-8''utf-8%27%27%2541");
    expect(decodeHttpHeaderValue(sent)).to.equal(value);
  });
});
