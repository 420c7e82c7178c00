// The translator loader: built-in names, module paths relative to the configuration file,
// every accepted export shape, and a clear message for each way a module can be unusable.

import { expect } from "chai";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SluiceError } from "../../shared/protocol/errors";
import { builtInTranslatorNames } from "../../worker/translators/index";
import {
  checkTranslator,
  loadTranslator,
  TranslatorLoadError,
} from "../../worker/translators/load-translator";
import {
  BackendAnswerError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  type Translator,
  type TranslatorBackend,
} from "../../worker/translators/translator";

const REPO_ROOT = resolve(__dirname, "../../..");
const backend: TranslatorBackend = {
  name: "legacy",
  url: "http://127.0.0.1:1",
  timeoutMs: 1000,
  options: {},
};

async function loadError(spec: string, baseDir: string): Promise<Error> {
  try {
    const t = await loadTranslator(spec, backend, baseDir);
    await t.close?.();
  } catch (error) {
    return error as Error;
  }
  throw new Error(`expected ${spec} to fail`);
}

describe("translator loader", () => {
  let dir: string;
  const loaded: Translator[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "sluice-translators-"));
    const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
    write(
      "kit.js",
      "exports.createTranslator = (backend, kit) => ({ backend, kit, call: async () => [] });",
    );
    write(
      "default-factory.mjs",
      'export default (backend) => ({ call: async () => [{ status: 200, contentType: "text/plain", body: backend.name }] });',
    );
    write(
      "esm-named.mjs",
      "export function createTranslator() { return { call: async () => [] }; }",
    );
    write("object.js", "module.exports = { marker: 'object', call: async () => [] };");
    write("nothing.js", "module.exports = { version: 1 };");
    write("throws-on-load.js", "throw new Error('boom at load');");
    write(
      "factory-throws.js",
      "exports.createTranslator = () => { throw new Error('no credentials'); };",
    );
    write("factory-junk.js", "exports.createTranslator = () => 42;");
  });

  after(async () => {
    await Promise.all(loaded.splice(0).map((t) => t.close?.()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("knows rest-json and soap as built-in names", () => {
    expect(builtInTranslatorNames()).to.include.members(["rest-json", "soap"]);
  });

  it("loads a built-in translator by name", async () => {
    const t = await loadTranslator("rest-json", backend, dir);
    loaded.push(t);
    expect(t.call).to.be.a("function");
    expect(t.close).to.be.a("function");
  });

  it("loads the example translator by a path relative to the configuration's directory", async () => {
    const t = await loadTranslator("./examples/translators/form-legacy.js", backend, REPO_ROOT);
    expect(t.call).to.be.a("function");
  });

  it("loads a module by absolute path, without its extension too", async () => {
    const t = await loadTranslator(
      join(REPO_ROOT, "examples/translators/form-legacy"),
      backend,
      "/",
    );
    expect(t.call).to.be.a("function");
  });

  it("hands the factory the backend and the worker's error classes", async () => {
    const t = (await loadTranslator("./kit.js", backend, dir)) as Translator & {
      backend: TranslatorBackend;
      kit: Record<string, unknown>;
    };
    expect(t.backend).to.equal(backend);
    expect(t.kit.BackendRejectedError).to.equal(BackendRejectedError);
    expect(t.kit.BackendUnavailableError).to.equal(BackendUnavailableError);
    expect(t.kit.SluiceError).to.equal(SluiceError);
    // The two the interface's docs tell a module to throw (a timeout, an answer not its own).
    expect(t.kit.BackendTimeoutError).to.equal(BackendTimeoutError);
    expect(t.kit.BackendAnswerError).to.equal(BackendAnswerError);
  });

  it("accepts a default-export factory, a named ESM export and a translator object", async () => {
    const byDefault = await loadTranslator("./default-factory.mjs", backend, dir);
    const [answer] = await byDefault.call({} as never, {} as never);
    expect(answer.body).to.equal("legacy");
    expect((await loadTranslator("./esm-named.mjs", backend, dir)).call).to.be.a("function");
    const object = (await loadTranslator("./object.js", backend, dir)) as Translator & {
      marker?: string;
    };
    expect(object.marker).to.equal("object");
  });

  it("names the missing file when a path does not exist", async () => {
    const error = await loadError("./translators/missing.js", dir);
    expect(error).to.be.instanceOf(TranslatorLoadError);
    expect(error.message).to.contain("backend legacy");
    expect(error.message).to.contain(join(dir, "translators/missing.js"));
    expect(error.message).to.match(/module not found/);
  });

  it("words a missing module as docs/translators.md shows it", async () => {
    // Every role runs `sluice check`'s checks first, so this is the line an operator reads.
    const [problem] = await checkTranslator(
      "./translators/my-backend.js",
      {},
      "/etc/sluice",
      "config.backends.registry",
    );
    const page = readFileSync(join(REPO_ROOT, "docs", "translators.md"), "utf8");
    expect(page).to.include(`\n  - ${problem}\n`);
  });

  it("says so when a name is neither built in nor installed", async () => {
    const error = await loadError("rest_json", dir);
    expect(error).to.be.instanceOf(TranslatorLoadError);
    expect(error.message).to.match(/not a built-in translator \(rest-json, soap/);
  });

  it("says what was expected when a module exports nothing usable", async () => {
    const error = await loadError("./nothing.js", dir);
    expect(error).to.be.instanceOf(TranslatorLoadError);
    expect(error.message).to.match(/exports no translator/);
  });

  it("reports a module that throws while loading, a factory that throws, and one that returns junk", async () => {
    expect((await loadError("./throws-on-load.js", dir)).message).to.match(
      /failed to load: boom at load/,
    );
    expect((await loadError("./factory-throws.js", dir)).message).to.match(
      /could not be created: no credentials/,
    );
    expect((await loadError("./factory-junk.js", dir)).message).to.match(
      /returned no object with a call method/,
    );
  });

  it("reports a built-in whose options are wrong as a load error", async () => {
    const error = await loadTranslator(
      "rest-json",
      { ...backend, options: { maxResponseBytes: "big" } },
      dir,
    ).then(
      () => null,
      (e: Error) => e,
    );
    expect(error).to.be.instanceOf(TranslatorLoadError);
    expect(error?.message).to.match(/options\.maxResponseBytes/);
  });
});
