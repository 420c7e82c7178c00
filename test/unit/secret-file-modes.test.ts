import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { exposedConfigWarnings, inlineSecrets } from "../../shared/config/secret-file-modes";

describe("secrets written into a configuration file", () => {
  it("counts passwords in the connection URLs and backends' credential headers, not ${VAR}s", () => {
    expect(
      inlineSecrets({
        amqpUrl: ["amqp://h1", "amqp://sluice:kT9/x+Qz=@h2"],
        redisUrl: "redis://h:6379/0?password=s3cret",
        backends: {
          legacy: { options: { headers: { Authorization: "Bearer abc", Accept: "text/xml" } } },
          other: { options: { headers: { "X-API-Key": "${API_KEY}" } } },
        },
      }),
    ).to.deep.equal([
      "amqpUrl (its password)",
      "redisUrl (its password)",
      "backends.legacy.options.headers.Authorization",
    ]);
    expect(
      inlineSecrets({ amqpUrl: "amqp://${AMQP_USER}:${AMQP_PASSWORD}@h", redisUrl: "redis://h" }),
    ).to.deep.equal([]);
  });

  it("warns of a file every user may change, and of one every user may read that holds a password", function () {
    if (process.platform === "win32") this.skip();
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-modes-"));
    try {
      const file = path.join(dir, "sluice.yaml");
      writeFileSync(file, 'amqpUrl: "amqp://sluice:s3cret@rabbit:5672"\n');
      const at = (mode: number) => exposedConfigWarnings(file, () => mode);
      expect(at(0o640)).to.deep.equal([]);
      expect(at(0o644)).to.have.length(1);
      expect(at(0o644)[0]).to.include("holds amqpUrl (its password) and every user");
      expect(at(0o644)[0]).to.not.include("s3cret");
      const writable = at(0o666);
      expect(writable).to.have.length(2);
      expect(writable[0]).to.include("every user of this machine may change it (mode 0666)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
