// The options the pooled translators (rest-json, xroad-rest, xroad-soap, and soap's pool
// settings) read alike: a malformed one stops the translator's creation with its name.

import { expect } from "chai";
import { createTranslator as createRestJson } from "../../worker/translators/rest-json";
import { createTranslator as createXroadRest } from "../../worker/translators/xroad-rest";
import { createTranslator as createXroadSoap } from "../../worker/translators/xroad-soap";
import { createTranslator as createSoap } from "../../worker/translators/soap";
import type { Translator, TranslatorBackend } from "../../worker/translators/translator";

const TRANSLATORS: Array<[string, (backend: TranslatorBackend) => Translator]> = [
  ["rest-json", createRestJson],
  ["xroad-rest", createXroadRest],
  ["xroad-soap", createXroadSoap],
];

const backend = (options: Record<string, unknown>): TranslatorBackend => ({
  name: "registry",
  url: "http://127.0.0.1:1",
  timeoutMs: 1000,
  options,
  xroad: {
    service: "EE/GOV/70000002/provider/getState",
    client: "EE/GOV/70000001/sluice-consumer",
    serviceClients: {},
  },
});

describe("pooled translators: shared options", () => {
  for (const [name, create] of TRANSLATORS) {
    it(`${name} refuses a maxResponseBytes, connections or keepAliveTimeoutMs that is not a positive integer`, () => {
      for (const option of ["maxResponseBytes", "connections", "keepAliveTimeoutMs"]) {
        for (const value of [0, -1, 1.5, "10"]) {
          expect(() => create(backend({ [option]: value })), `${option}: ${value}`).to.throw(
            `backend registry: options.${option} must be a positive integer`,
          );
        }
      }
    });

    it(`${name} takes positive integers and closes cleanly unused`, async () => {
      const translator = create(
        backend({ maxResponseBytes: 1024, connections: 2, keepAliveTimeoutMs: 1000 }),
      );
      await translator.close?.();
    });
  }

  it("soap refuses a connections or keepAliveTimeoutMs that is not a positive integer, and takes positive ones", async () => {
    for (const option of ["connections", "keepAliveTimeoutMs"]) {
      for (const value of [0, -1, 1.5, "10"]) {
        expect(() => createSoap(backend({ [option]: value })), `${option}: ${value}`).to.throw(
          `backend registry: options.${option} must be a positive integer`,
        );
      }
    }
    await createSoap(backend({ connections: 2, keepAliveTimeoutMs: 1000 })).close?.();
  });
});
