import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { readBoundedFile, UnreadableFile } from "../../shared/config/bounded-file";

describe("a file read whole at start", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-bounded-file-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("is read to its end when it is within the bound", () => {
    const at = path.join(dir, "f");
    writeFileSync(at, "x".repeat(10_000));
    expect(readBoundedFile(at, 10_000).toString()).to.equal("x".repeat(10_000));
    expect(() => readBoundedFile(at, 9_999)).to.throw(UnreadableFile, /larger than 10 KiB/);
  });

  it("is refused past the bound when it says it has no size, as the files of /proc do", function () {
    if (process.platform !== "linux") this.skip();
    // A process's memory map is tens of KiB, and /proc reports 0 bytes for it.
    expect(() => readBoundedFile("/proc/self/smaps", 1024)).to.throw(
      UnreadableFile,
      /larger than 1 KiB/,
    );
    expect(readBoundedFile("/proc/self/stat", 64 * 1024).toString()).to.match(/^\d+ /);
  });
});
