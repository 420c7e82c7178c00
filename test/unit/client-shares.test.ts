// Each client's part of a backend's recent intake, on a clock of the test's own.

import { expect } from "chai";
import { ClientShares, HALF_WINDOW_MS, MAX_CLIENTS } from "../../adapter/client-shares";

describe("ClientShares", () => {
  let now: number;
  let shares: ClientShares;

  beforeEach(() => {
    now = 1_000;
    shares = new ClientShares(() => now);
  });

  const sent = (client: string, times: number, backend = "legacy") => {
    for (let i = 0; i < times; i++) shares.note(backend, client);
  };

  it("finds a client over its share only while another client sent some too", () => {
    sent("a", 3);
    expect(shares.over("legacy", "a", 0.5)).to.equal(false);
    sent("b", 1);
    expect(shares.over("legacy", "a", 0.5)).to.equal(true);
    expect(shares.over("legacy", "b", 0.5)).to.equal(false);
    expect(shares.over("legacy", "a", 0.8)).to.equal(false);
    // One who sent nothing is never over.
    expect(shares.over("legacy", "c", 0.5)).to.equal(false);
  });

  it("counts each backend on its own", () => {
    sent("a", 3, "legacy");
    sent("b", 1, "other");
    expect(shares.over("legacy", "a", 0.5)).to.equal(false);
    expect(shares.over("other", "b", 0.5)).to.equal(false);
  });

  it("remembers the last 30 to 60 seconds: the window before counts, older ones do not", () => {
    sent("a", 3);
    now += HALF_WINDOW_MS;
    sent("b", 1);
    expect(shares.over("legacy", "a", 0.5)).to.equal(true);
    now += HALF_WINDOW_MS;
    // a's three are two windows old: only b's one is left.
    expect(shares.over("legacy", "a", 0.5)).to.equal(false);
    sent("a", 1);
    expect(shares.over("legacy", "b", 0.4)).to.equal(true);
  });

  it("forgets everything after a minute without intake", () => {
    sent("a", 3);
    sent("b", 1);
    now += 2 * HALF_WINDOW_MS;
    sent("b", 1);
    expect(shares.over("legacy", "a", 0.5)).to.equal(false);
    expect(shares.over("legacy", "b", 0.5)).to.equal(false);
  });

  it(`names at most ${MAX_CLIENTS} clients a backend; one more counts in the total only`, () => {
    for (let i = 0; i < MAX_CLIENTS; i++) shares.note("legacy", `c${i}`);
    sent("late", 5 * MAX_CLIENTS);
    expect(shares.over("legacy", "late", 0.5)).to.equal(false);
    sent("c0", MAX_CLIENTS * 10);
    expect(shares.over("legacy", "c0", 0.5)).to.equal(true);
  });
});
