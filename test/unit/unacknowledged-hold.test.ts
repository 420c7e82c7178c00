// The longest a worker may hold a message unacknowledged, and the configuration rule that keeps it
// under the broker's consumer_timeout (past it the broker closes the channel and redelivers).

import { expect } from "chai";
import { compileConfig, ConfigError } from "../../shared/config/config";
import { longestHoldMs, tokenIntervalMs } from "../../shared/config/unacknowledged-hold";
import { gcraParameters } from "../../worker/rate-limiter";

const service = { services: { q: { backend: "slow" } } };

function problemsOf(raw: Record<string, unknown>): string[] {
  try {
    compileConfig({ ...service, ...raw }, "/etc/sluice");
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const backend = (settings: Record<string, unknown>) => ({
  backends: { slow: { url: "http://127.0.0.1:8090", ...settings } },
});

describe("unacknowledged hold", () => {
  it("counts one rate interval per message a worker holds, then the call's timeout", () => {
    const config = compileConfig(
      { ...service, ...backend({ rate: { limit: 1, per: "1m" }, maxInFlight: 4 }) },
      "/etc/sluice",
    );
    expect(config.amqpConsumerTimeoutMs).to.equal(1_800_000);
    // The limiter's interval: a minute and the 25 ms guard (no burst to take it from).
    expect(longestHoldMs(config.backends.slow)).to.equal(4 * 60_025 + 30_000);
  });

  it("holds an ordered backend's message through every retry in place and slot wait", () => {
    const config = compileConfig(
      {
        ...service,
        ...backend({
          rate: { limit: 1, per: "1m" },
          maxInFlight: 2,
          ordering: { key: "client", partitions: 3 },
          retry: { attempts: 3, backoff: ["1m", "2m"] },
        }),
      },
      "/etc/sluice",
    );
    // Four queues of prefetch 1: a slot wait of one call, four tokens, the call; three times.
    const oneCall = 30_000 + 4 * 60_025 + 30_000;
    expect(longestHoldMs(config.backends.slow)).to.equal(3 * oneCall + 60_000 + 120_000);
  });

  it("refuses a slow rate whose prefetch outwaits the broker's consumer_timeout", () => {
    const problems = problemsOf(backend({ rate: { limit: 1, per: "5m" }, maxInFlight: 8 }));
    expect(problems).to.have.length(1);
    expect(problems[0]).to.match(/^config\.backends\.slow: .* for 40\.5m \(8 held per worker/);
    expect(problems[0]).to.include("lower maxInFlight");
    expect(problems[0]).to.include("config.amqpConsumerTimeout");
  });

  it("accepts it with a smaller prefetch, or once the broker's timeout is raised and named", () => {
    expect(problemsOf(backend({ rate: { limit: 1, per: "5m" }, maxInFlight: 4 }))).to.deep.equal(
      [],
    );
    expect(
      problemsOf({
        ...backend({ rate: { limit: 1, per: "5m" }, maxInFlight: 8 }),
        amqpConsumerTimeout: "1h",
      }),
    ).to.deep.equal([]);
  });

  it("refuses an ordered backend whose in-place retries outlast the consumer_timeout", () => {
    const problems = problemsOf(
      backend({ ordering: "strict", retry: { attempts: 3, backoff: ["10m", "30m"] } }),
    );
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include("for 41.5m (1 held per worker, 3 attempts retried in place)");
    expect(problems[0]).to.include("shorter retry.backoff");
  });

  it("counts the interval the limiter really keeps, lengthened by a wide rate.guard", () => {
    // 7.5 minutes between tokens, not 5: five held messages wait 37.5 minutes for theirs.
    const problems = problemsOf(
      backend({ rate: { limit: 1, per: "5m", guard: "150s" }, maxInFlight: 5 }),
    );
    expect(problems).to.have.length(1);
    expect(problems[0]).to.include("for 38m (5 held per worker, one rate token each 7.5m)");
  });

  it("spaces tokens as the worker's limiter does", () => {
    for (const rate of [
      { limit: 1, perMs: 300_000, burst: 0 },
      { limit: 1, perMs: 300_000, burst: 0, guardMs: 150_000 },
      { limit: 10, perMs: 1_000, burst: 0, guardMs: 100 },
      { limit: 50, perMs: 1_000, burst: 10 },
      { limit: 2, perMs: 1_000, burst: 1, guardMs: 300 },
    ]) {
      const limiterMs = gcraParameters(rate).intervalUs / 1000;
      expect(Math.abs(tokenIntervalMs(rate) - limiterMs)).to.be.below(0.001);
    }
  });

  it("says nothing of a rate of no calls, which is refused on its own", () => {
    expect(problemsOf(backend({ rate: { limit: 0, per: "1s" } }))).to.deep.equal([
      "config.backends.slow.rate.limit: must be at least 0.001",
    ]);
  });

  it("accepts the defaults, ordered or not", () => {
    expect(problemsOf(backend({}))).to.deep.equal([]);
    expect(problemsOf(backend({ ordering: "strict" }))).to.deep.equal([]);
    expect(problemsOf(backend({ ordering: { key: "client", partitions: 8 } }))).to.deep.equal([]);
  });
});
