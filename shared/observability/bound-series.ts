// Counter and histogram series bound to one label set once, for metrics updated on every
// request: prom-client hashes and checks the labels on every `inc` and `observe` (microseconds
// each), a bound series adds to plain numbers and the registry reads them when scraped.

import type { Aggregator, Counter, MetricType, Registry } from "prom-client";

/** One label set of a counter: counted here, added to the prom-client counter when read. */
export interface CounterSeries {
  inc(): void;
}

/**
 * The series of a prom-client counter by label set. The counter's own `collect` (run before
 * every read of it) must call `flush`: what was counted since the last read is added then.
 */
export class BoundCounter<L extends string> {
  private readonly series = new Map<string, { labels: Record<L, string>; pending: number }>();

  constructor(
    private readonly counter: Counter<L>,
    private readonly labelNames: readonly L[],
  ) {}

  /** Counts into the series of `labels`, made when first bound: bind once, count often. */
  bind(labels: Record<L, string>): CounterSeries {
    checkLabels(this.labelNames, labels);
    const key = seriesKey(this.labelNames, labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      const made = { labels: { ...labels }, pending: 0 };
      this.series.set(key, made);
      entry = made;
    }
    const bound = entry;
    return {
      inc: () => {
        bound.pending++;
      },
    };
  }

  /** Adds what was counted since the last flush to the counter (called by its `collect`). */
  flush(): void {
    for (const entry of this.series.values()) {
      if (entry.pending === 0) continue;
      this.counter.inc(entry.labels, entry.pending);
      entry.pending = 0;
    }
  }
}

/** One label set of a histogram. */
export interface HistogramSeries {
  observe(value: number): void;
}

interface HistogramEntry<L extends string> {
  labels: Record<L, string>;
  /** Observations per bucket, not cumulative: [i] counts values in (bounds[i-1], bounds[i]]. */
  buckets: number[];
  sum: number;
  count: number;
}

/** One value of a histogram as prom-client's registry reads it for the text exposition. */
interface ExpositionValue<L extends string> {
  labels: { le?: number | string };
  sharedLabels: Record<L, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

interface HistogramData<V> {
  name: string;
  help: string;
  type: MetricType;
  aggregator: Aggregator;
  values: V[];
}

export interface BoundHistogramOptions<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  buckets: readonly number[];
  registers: Registry[];
}

/**
 * A histogram read by the registry as prom-client's `Histogram` is (the same exposition text
 * and `get()` values), whose series are bound once. A series appears once first observed.
 */
export class BoundHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly type = "histogram" as unknown as MetricType;
  readonly aggregator: Aggregator = "sum";
  private readonly upperBounds: readonly number[];
  /** Every bound series by label values; `observed` those with an observation, in that order. */
  private readonly series = new Map<string, HistogramEntry<L>>();
  private observed: Array<HistogramEntry<L>> = [];

  constructor(options: BoundHistogramOptions<L>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = [...options.labelNames];
    this.upperBounds = [...options.buckets].sort((a, b) => a - b);
    // The registry reads a metric by its name, help, type and `get`/`getForPromString`.
    for (const registry of options.registers) {
      registry.registerMetric(this as unknown as Parameters<Registry["registerMetric"]>[0]);
    }
  }

  /** Observes into the series of `labels`, made when first bound: bind once, observe often. */
  bind(labels: Record<L, string>): HistogramSeries {
    checkLabels(this.labelNames, labels);
    const key = seriesKey(this.labelNames, labels);
    let entry = this.series.get(key);
    if (entry === undefined) {
      const made: HistogramEntry<L> = {
        labels: { ...labels },
        buckets: new Array<number>(this.upperBounds.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      this.series.set(key, made);
      entry = made;
    }
    const bound = entry;
    const bounds = this.upperBounds;
    return {
      observe: (value: number) => {
        if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
        let at = 0;
        while (at < bounds.length && value > bounds[at]) at++;
        // Listed from its first observation on, as prom-client lists a label set.
        if (bound.count === 0) this.observed.push(bound);
        bound.buckets[at]++;
        bound.sum += value;
        bound.count++;
      },
    };
  }

  /** `observe` on the series of `labels` (binds it: for callers off the hot path). */
  observe(labels: Record<L, string>, value: number): void {
    this.bind(labels).observe(value);
  }

  /** Forgets every observation, as prom-client's `reset`. */
  reset(): void {
    for (const entry of this.series.values()) {
      entry.buckets.fill(0);
      entry.sum = 0;
      entry.count = 0;
    }
    this.observed = [];
  }

  /** The values in prom-client's form for the text exposition (series labels kept apart). */
  getForPromString(): Promise<HistogramData<ExpositionValue<L>>> {
    const bucketName = `${this.name}_bucket`;
    const values: Array<ExpositionValue<L>> = [];
    for (const entry of this.observed) {
      let cumulative = 0;
      for (let i = 0; i < this.upperBounds.length; i++) {
        cumulative += entry.buckets[i];
        values.push({
          labels: { le: this.upperBounds[i] },
          sharedLabels: entry.labels,
          value: cumulative,
          metricName: bucketName,
          exemplar: null,
        });
      }
      values.push(
        {
          labels: { le: "+Inf" },
          sharedLabels: entry.labels,
          value: entry.count,
          metricName: bucketName,
          exemplar: null,
        },
        {
          labels: {},
          sharedLabels: entry.labels,
          value: entry.sum,
          metricName: `${this.name}_sum`,
          exemplar: undefined,
        },
        {
          labels: {},
          sharedLabels: entry.labels,
          value: entry.count,
          metricName: `${this.name}_count`,
          exemplar: undefined,
        },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** The values as prom-client's `Histogram.get` gives them (series labels merged in). */
  async get(): Promise<
    HistogramData<{
      labels: Record<string, string | number>;
      value: number;
      metricName: string;
      exemplar: null | undefined;
    }>
  > {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ labels, sharedLabels, value, metricName, exemplar }) => ({
        value,
        metricName,
        exemplar,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}

/** Refuses a label the metric does not have, as prom-client does. */
function checkLabels(names: readonly string[], labels: object): void {
  for (const name of Object.keys(labels)) {
    if (!names.includes(name)) throw new Error(`the metric has no label "${name}"`);
  }
}

/** A key for a label set: its values in the metric's label order (made only when binding). */
function seriesKey<L extends string>(names: readonly L[], labels: Record<L, string>): string {
  return JSON.stringify(names.map((name) => labels[name] ?? null));
}
