// A worker's translators are closed together at shutdown: one whose close throws (a custom
// module's) does not leave the others' connections open.

import { expect } from "chai";
import { closeTranslators, type Translator } from "../../worker/translators/translator";
import { rejectionOf } from "../support/rejection";

describe("closing a worker's translators", () => {
  const translator = (close?: () => Promise<void>): Translator =>
    ({ call: async () => [], ...(close ? { close } : {}) }) as unknown as Translator;

  it("closes every one, and then throws the first one's failure", async () => {
    const closed: string[] = [];
    const failure = new Error("the module's pool would not close");
    const error = await rejectionOf(
      closeTranslators([
        translator(async () => {
          throw failure;
        }),
        translator(() => {
          // A close that throws before its promise: still every other one is closed.
          throw new Error("thrown at once");
        }),
        translator(),
        translator(async () => {
          closed.push("last");
        }),
      ]),
    );
    expect(error).to.equal(failure);
    expect(closed).to.deep.equal(["last"]);
  });

  it("resolves when every one closed", async () => {
    const closed: number[] = [];
    await closeTranslators([1, 2].map((n) => translator(async () => void closed.push(n))));
    expect(closed).to.deep.equal([1, 2]);
  });
});
