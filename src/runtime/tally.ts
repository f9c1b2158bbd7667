import type { Registry } from 'prom-client';

/** Each label's possible values, in the order the series are written. */
export type LabelSpace<L extends string> = { readonly [K in L]: readonly string[] };

interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/**
 * Metrics on the token hot path. prom-client builds and hashes a key from the
 * label object and validates the labels on every `inc` and `observe`: a few
 * microseconds per token request (bench/token). Where the label space is small
 * and fixed (grant types, result codes, status classes), a tally keeps plain
 * numbers in array slots instead; the caller works out a slot once (`slot`)
 * and adds to it. The registry reads the tallies when it is scraped, through
 * the same interface as prom-client's own metrics, so the exposition is the
 * same: every combination is exported, zeros included.
 */
abstract class Tally<L extends string> {
  readonly aggregator = 'sum' as const;
  protected readonly names: readonly L[];
  protected readonly size: number;
  private readonly strides: number[];
  private readonly indexes: ReadonlyMap<string, number>[];

  protected constructor(
    readonly name: string,
    readonly help: string,
    protected readonly space: LabelSpace<L>,
  ) {
    this.names = Object.keys(space) as L[];
    this.indexes = this.names.map((n) => new Map(space[n].map((v, i) => [v, i])));
    this.strides = [];
    let stride = 1;
    for (let i = this.names.length - 1; i >= 0; i--) {
      this.strides[i] = stride;
      stride *= space[this.names[i]!].length;
    }
    this.size = stride;
  }

  /** The slot of one combination of label values; throws for a value outside the space. */
  slot(values: { readonly [K in L]: string }): number {
    let slot = 0;
    this.names.forEach((n, i) => {
      const index = this.indexes[i]!.get(values[n]);
      if (index === undefined) throw new Error(`${this.name}: ${n}="${values[n]}" is not one of its values`);
      slot += index * this.strides[i]!;
    });
    return slot;
  }

  protected labelsOf(slot: number): Record<string, string> {
    const labels: Record<string, string> = {};
    this.names.forEach((n, i) => {
      labels[n] = this.space[n][Math.floor(slot / this.strides[i]!) % this.space[n].length]!;
    });
    return labels;
  }

  /** Registers the tally with a registry, beside prom-client's own metrics. */
  register(registry: Registry): this {
    registry.registerMetric(this as never);
    return this;
  }
}

export class TallyCounter<L extends string> extends Tally<L> {
  readonly type = 'counter' as const;
  private counts: Float64Array;

  constructor(opts: { name: string; help: string; labels: LabelSpace<L> }) {
    super(opts.name, opts.help, opts.labels);
    this.counts = new Float64Array(this.size);
  }

  inc(slot: number, by = 1): void {
    this.counts[slot]! += by;
  }

  async get() {
    const values: MetricValue[] = [];
    for (let s = 0; s < this.size; s++) values.push({ labels: this.labelsOf(s), value: this.counts[s]! });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts = new Float64Array(this.size);
  }
}

export class TallyHistogram<L extends string> extends Tally<L> {
  readonly type = 'histogram' as const;
  private readonly buckets: number[];
  private counts: Float64Array;
  private sums: Float64Array;
  private totals: Float64Array;

  constructor(opts: { name: string; help: string; labels: LabelSpace<L>; buckets: readonly number[] }) {
    super(opts.name, opts.help, opts.labels);
    this.buckets = [...opts.buckets].sort((a, b) => a - b);
    this.counts = new Float64Array(this.size * this.buckets.length);
    this.sums = new Float64Array(this.size);
    this.totals = new Float64Array(this.size);
  }

  observe(slot: number, value: number): void {
    this.sums[slot]! += value;
    this.totals[slot]! += 1;
    const n = this.buckets.length;
    for (let b = 0; b < n; b++) {
      if (value <= this.buckets[b]!) {
        this.counts[slot * n + b]! += 1;
        return;
      }
    }
  }

  async get() {
    const values: MetricValue[] = [];
    const n = this.buckets.length;
    for (let s = 0; s < this.size; s++) {
      const labels = this.labelsOf(s);
      let cumulative = 0;
      for (let b = 0; b < n; b++) {
        cumulative += this.counts[s * n + b]!;
        values.push({ labels: { le: this.buckets[b]!, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', ...labels }, value: this.totals[s]!, metricName: `${this.name}_bucket` });
      values.push({ labels, value: this.sums[s]!, metricName: `${this.name}_sum` });
      values.push({ labels, value: this.totals[s]!, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.counts = new Float64Array(this.size * this.buckets.length);
    this.sums = new Float64Array(this.size);
    this.totals = new Float64Array(this.size);
  }
}
