import { expect } from "chai";
import { Counter, Histogram, Registry } from "prom-client";
import { BoundCounter, BoundHistogram } from "../../shared/observability/bound-series";

type L = "protocol" | "service";
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const HELP = "Time from receiving a request to sending the answer.";

/** The same histogram twice: prom-client's own and the bound one, each in its own registry. */
function pair(): { oracle: Histogram<L>; bound: BoundHistogram<L>; texts(): Promise<string[]> } {
  const theirs = new Registry();
  const ours = new Registry();
  const labelNames: L[] = ["protocol", "service"];
  const options = { name: "t_duration_seconds", help: HELP, labelNames };
  const oracle = new Histogram<L>({ ...options, buckets: BUCKETS, registers: [theirs] });
  const bound = new BoundHistogram<L>({
    ...options,
    buckets: BUCKETS,
    registers: [ours],
  });
  return { oracle, bound, texts: () => Promise.all([theirs.metrics(), ours.metrics()]) };
}

describe("bound metric series", () => {
  it("a bound histogram reads exactly as prom-client's histogram given the same observations", async () => {
    const { oracle, bound, texts } = pair();
    const values = [0, 0.001, 0.0011, 0.0025, 0.004, 0.7, 1, 29.9, 30, 31, 1e6, 0.02];
    const series = bound.bind({ protocol: "rest", service: "a" });
    for (const value of values) {
      oracle.observe({ protocol: "rest", service: "a" }, value);
      series.observe(value);
    }
    // A second label set, observed after the first: listed in the order first observed.
    oracle.observe({ protocol: "soap", service: "b" }, 0.003);
    bound.observe({ protocol: "soap", service: "b" }, 0.003);
    // Bound but never observed: not listed, as prom-client lists only observed label sets.
    bound.bind({ protocol: "rest", service: "never" });
    const [theirs, ours] = await texts();
    expect(ours).to.equal(theirs);
    expect(await bound.get()).to.deep.equal(await oracle.get());
  });

  it("binding the same labels twice gives one series; reset forgets every observation", async () => {
    const { oracle, bound, texts } = pair();
    bound.bind({ protocol: "rest", service: "a" }).observe(0.002);
    bound.bind({ protocol: "rest", service: "a" }).observe(0.2);
    oracle.observe({ protocol: "rest", service: "a" }, 0.002);
    oracle.observe({ protocol: "rest", service: "a" }, 0.2);
    let [theirs, ours] = await texts();
    expect(ours).to.equal(theirs);

    const kept = bound.bind({ protocol: "rest", service: "a" });
    bound.reset();
    oracle.reset();
    [theirs, ours] = await texts();
    expect(ours).to.equal(theirs);
    // A series bound before the reset counts again from zero.
    kept.observe(3);
    oracle.observe({ protocol: "rest", service: "a" }, 3);
    [theirs, ours] = await texts();
    expect(ours).to.equal(theirs);
  });

  it("refuses what prom-client refuses: an unknown label, a value that is not a number", () => {
    const { bound } = pair();
    expect(() => bound.bind({ protocol: "rest", service: "a", id: "x" } as never)).to.throw(
      /no label "id"/,
    );
    expect(() => bound.bind({ protocol: "rest", service: "a" }).observe(Number.NaN)).to.throw(
      TypeError,
    );
  });

  it("a bound counter's counts reach its prom-client counter whenever the registry reads it", async () => {
    const registry = new Registry();
    const counter: Counter<"outcome"> = new Counter<"outcome">({
      name: "t_requests_total",
      help: "Requests.",
      labelNames: ["outcome"],
      registers: [registry],
      collect: (): void => counts.flush(),
    });
    const counts: BoundCounter<"outcome"> = new BoundCounter(counter, ["outcome"]);
    const accepted = counts.bind({ outcome: "accepted" });
    accepted.inc();
    accepted.inc();
    counts.bind({ outcome: "busy" }).inc();
    // Counted directly too: both add up.
    counter.inc({ outcome: "accepted" });
    let text = await registry.metrics();
    expect(text).to.include('t_requests_total{outcome="accepted"} 3');
    expect(text).to.include('t_requests_total{outcome="busy"} 1');
    // Read again with nothing new: nothing is added twice.
    text = await registry.metrics();
    expect(text).to.include('t_requests_total{outcome="accepted"} 3');
    accepted.inc();
    const { values } = await counter.get();
    expect(values.find((v) => v.labels.outcome === "accepted")?.value).to.equal(4);
    expect(() => counts.bind({ outcome: "x", id: "y" } as never)).to.throw(/no label "id"/);
  });
});
