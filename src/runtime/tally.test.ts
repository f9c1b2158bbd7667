import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TallyCounter, TallyHistogram } from './tally.ts';

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

describe('tallies', () => {
  it('expose counters exactly as a prom-client Counter with the same series would', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const tally = new TallyCounter({ name: 't_requests_total', help: 'h', labels: { grant: ['a', 'b'], result: ['ok', 'bad', 'error'] } }).register(ours);
    const counter = new Counter({ name: 't_requests_total', help: 'h', labelNames: ['grant', 'result'] as const, registers: [theirs] });
    for (const grant of ['a', 'b']) for (const result of ['ok', 'bad', 'error']) counter.inc({ grant, result }, 0);
    const events: Array<[string, string, number]> = [['a', 'ok', 1], ['a', 'ok', 1], ['b', 'error', 3], ['a', 'bad', 1]];
    for (const [grant, result, by] of events) {
      tally.inc(tally.slot({ grant, result }), by);
      counter.inc({ grant, result }, by);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(lines(await ours.metrics(), 't_requests_total{grant="b",result="error"}')).toEqual(['t_requests_total{grant="b",result="error"} 3']);
  });

  it('expose histograms exactly as a prom-client Histogram with the same series would', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.01, 0.1, 1];
    const tally = new TallyHistogram({ name: 't_seconds', help: 'h', labels: { grant: ['a', 'b'] }, buckets }).register(ours);
    const histogram = new Histogram({ name: 't_seconds', help: 'h', labelNames: ['grant'] as const, buckets, registers: [theirs] });
    for (const grant of ['a', 'b']) histogram.zero({ grant });
    // Bucket edges are inclusive (le), and a value above the last bucket counts only in +Inf, sum and count.
    for (const [grant, value] of [['a', 0.01], ['a', 0.5], ['a', 7], ['b', 0.001]] as const) {
      tally.observe(tally.slot({ grant }), value);
      histogram.observe({ grant }, value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(lines(await ours.metrics(), 't_seconds_bucket{le="+Inf",grant="a"}')).toEqual(['t_seconds_bucket{le="+Inf",grant="a"} 3']);
  });

  it('refuse a label value outside their space, so a caller cannot mint series', () => {
    const tally = new TallyCounter({ name: 't_total', help: 'h', labels: { grant: ['a'] } });
    expect(() => tally.slot({ grant: 'z' })).toThrow(/grant="z"/);
  });

  it('start again from zero when the registry is reset', async () => {
    const registry = new Registry();
    const tally = new TallyCounter({ name: 't_total', help: 'h', labels: { grant: ['a'] } }).register(registry);
    tally.inc(tally.slot({ grant: 'a' }), 5);
    registry.resetMetrics();
    expect(lines(await registry.metrics(), 't_total{')).toEqual(['t_total{grant="a"} 0']);
  });
});
