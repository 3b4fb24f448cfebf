import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import type { SyntaxNode } from '@lezer/common';
import type { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { Queue } from 'bullmq';
import { createFacadeMetrics } from '../apps/facade/src/observability/metrics.js';
import { TLS_EXPIRY_KINDS, type TlsExpiry } from '../apps/facade/src/security/tls.js';
import { createWorkerMetrics } from '../apps/worker/src/observability/metrics.js';
import { REPO_ROOT } from './support/stack.js';

/**
 * The alerting rules (docker/prometheus/booking-alerts.yml) and the Grafana dashboard
 * (docker/grafana/booking-facade.json) against what the facade and worker export: every
 * expression parses as PromQL (Prometheus's own grammar, @prometheus-io/lezer-promql), and every
 * metric and label it names exists, so no alert or panel is silently empty after a rename. With
 * `promtool` on the PATH (Debian: prometheus) the rules are also checked and unit-tested by it.
 */

const RULES = join(REPO_ROOT, 'docker/prometheus/booking-alerts.yml');
const RULE_TESTS = join(REPO_ROOT, 'docker/prometheus/booking-alerts.test.yml');
const DASHBOARD = join(REPO_ROOT, 'docker/grafana/booking-facade.json');
const OPERATIONS = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parseYaml(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

/**
 * Every metric either process exports, with its label names (Prometheus adds `job` and `instance`
 * to each series) and, for labels whose series exist from the start (zero counters, gauges set at
 * scrape), the values the code gives them: a matcher on another value selects nothing.
 */
const exported = new Map<string, Set<string>>();
const knownValues = new Map<string, Map<string, Set<string>>>();
const everyTlsKind: TlsExpiry[] = TLS_EXPIRY_KINDS.map((kind) => ({ kind, subject: 'CN=x', id: '0', at: new Date() }));
const oneQueue = { name: 'pas-requests', getJobCounts: async () => ({}) } as unknown as Queue;
for (const registry of [createFacadeMetrics([oneQueue], { tlsExpiries: () => everyTlsKind }).registry, createWorkerMetrics().registry] as Registry[]) {
  for (const metric of registry.getMetricsAsArray()) {
    const { name, labelNames } = metric as unknown as { name: string; labelNames?: string[] };
    exported.set(name, new Set([...(labelNames ?? []), 'job', 'instance']));
  }
  for (const { name, values } of await registry.getMetricsAsJSON()) {
    const labels = knownValues.get(name) ?? new Map<string, Set<string>>();
    for (const { labels: series } of values) for (const [label, value] of Object.entries(series)) labels.set(label, (labels.get(label) ?? new Set()).add(String(value)));
    knownValues.set(name, labels);
  }
}
const TARGET_LABELS = new Set(['job', 'instance']);

/** The labels a selected series carries: a histogram's _bucket series add `le`. */
function labelsOf(selected: string): Set<string> | undefined {
  if (selected === 'up') return TARGET_LABELS;
  const base = selected.replace(/_(bucket|sum|count)$/, '');
  const labels = exported.get(selected) ?? exported.get(base);
  if (!labels) return undefined;
  return selected.endsWith('_bucket') ? new Set([...labels, 'le']) : labels;
}

/** What is wrong with one PromQL expression: syntax errors, unknown metrics, labels a metric does not carry. */
function problemsOf(expr: string): string[] {
  const problems: string[] = [];
  const tree = parser.parse(expr);
  const text = (node: SyntaxNode) => expr.slice(node.from, node.to);
  const selectorsUnder = (node: SyntaxNode): SyntaxNode[] => {
    const found: SyntaxNode[] = [];
    for (let child = node.firstChild; child; child = child.nextSibling) found.push(...(child.name === 'VectorSelector' ? [child] : selectorsUnder(child)));
    return found;
  };
  tree.iterate({
    enter: (ref) => {
      if (ref.type.isError) problems.push(`syntax error at ${ref.from}: …${expr.slice(ref.from, ref.from + 20)}`);
      if (ref.name === 'VectorSelector') {
        const name = ref.node.getChild('Identifier');
        if (!name) return;
        const labels = labelsOf(text(name));
        if (!labels) return void problems.push(`no process exports ${text(name)}`);
        for (const matcher of ref.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
          const label = text(matcher.getChild('LabelName') as SyntaxNode);
          if (!labels.has(label)) problems.push(`${text(name)} has no label ${label}`);
          const known = knownValues.get(text(name).replace(/_(bucket|sum|count)$/, ''))?.get(label);
          const literal = JSON.parse(text(matcher.getChild('StringLiteral') as SyntaxNode)) as string;
          // Plain values and alternations of plain values (a|b); other regexes are not checked.
          const values = /^[\w-]+(\|[\w-]+)*$/.test(literal) ? literal.split('|') : [];
          for (const value of values) if (known && !known.has(value)) problems.push(`${text(name)}{${label}} is never "${value}" (it is one of ${[...known].sort().join(', ')})`);
        }
      }
      if (ref.name === 'AggregateExpr') {
        const grouping = ref.node.getChild('AggregateModifier')?.getChild('GroupingLabels')?.getChildren('LabelName').map(text) ?? [];
        const inner = selectorsUnder(ref.node.getChild('FunctionCallBody') as SyntaxNode).map((s) => labelsOf(text(s.getChild('Identifier') as SyntaxNode)));
        for (const label of grouping) if (inner.some((labels) => labels && !labels.has(label))) problems.push(`grouping by ${label}, which some series under it lack`);
      }
    },
  });
  return problems;
}

/** The anchors GitHub gives the headings of a Markdown file. */
const anchors = new Set([...OPERATIONS.matchAll(/^#+ (.+)$/gm)].map((m) => (m[1] as string).toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));

describe('alerting rules (docker/prometheus/booking-alerts.yml)', () => {
  it('the checker itself finds a syntax error, an unknown metric and a label the metric lacks', () => {
    expect(problemsOf('sum(rate(booking_http_requests_total[5m])')).not.toEqual([]);
    expect(problemsOf('booking_bookings_total > 0')).toEqual(['no process exports booking_bookings_total']);
    expect(problemsOf('booking_outcomes_total{reason="x"} > 0')).toEqual(['booking_outcomes_total has no label reason']);
    expect(problemsOf('sum by (reason) (rate(booking_outcomes_total[5m]))')).toEqual(['grouping by reason, which some series under it lack']);
    expect(problemsOf('histogram_quantile(0.95, sum by (le) (rate(booking_job_wait_seconds_bucket[5m])))')).toEqual([]);
    expect(problemsOf('booking_outcomes_total{outcome="undecoded"} > 0')).toEqual([expect.stringMatching(/^booking_outcomes_total\{outcome\} is never "undecoded"/)]);
    expect(problemsOf('booking_pas_duration_seconds_bucket{operation=~"book|cancelling"} > 0')).toEqual([]); // no zero series for durations: values unknown
    expect(problemsOf('booking_pas_errors_total{operation=~"book|cancelling"} > 0')).toEqual([expect.stringMatching(/is never "cancelling"/)]);
    expect(problemsOf('booking_tls_expiry_timestamp_seconds{kind!="crls"} > 0')).toEqual([expect.stringMatching(/is never "crls"/)]);
  });

  it('cover what on-call must hear of: no workers, 5xx, unreadable replies, a paused queue, expired jobs, PAS errors, TLS running out', () => {
    expect(rules.map((r) => r.alert)).toEqual(expect.arrayContaining(['BookingNoWorkers', 'BookingServerErrors', 'BookingReplyUnreadable', 'BookingQueuePaused', 'BookingJobsExpired', 'BookingPasErrors', 'BookingTlsCertificateExpiresSoon', 'BookingCrlNextUpdateSoon', 'BookingReconcilerStale']));
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
  });

  it.each(rules.map((r) => [r.alert, r] as const))('%s parses, names only exported metrics and labels, and says how bad and what to do', (_name, rule) => {
    expect(problemsOf(rule.expr)).toEqual([]);
    expect(['critical', 'warning']).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary).toBeTruthy();
    expect(rule.annotations?.description).toBeTruthy();
    const runbook = /^docs\/operations\.md#(.+)$/.exec(rule.annotations?.runbook ?? '');
    expect(runbook, 'runbook: docs/operations.md#section').not.toBeNull();
    expect([...anchors]).toContain(runbook?.[1]);
  });

  it('every alert has a unit test in which it fires (booking-alerts.test.yml)', () => {
    const cases = (parseYaml(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests.flatMap((t) => t.alert_rule_test ?? []);
    const firing = new Set(cases.filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname));
    expect(rules.map((r) => r.alert).filter((name) => !firing.has(name))).toEqual([]);
  });

  const promtool = (() => {
    try {
      execFileSync('promtool', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  if (!promtool) console.warn('monitoring-rules: promtool is not installed (Debian: prometheus), so `promtool check rules` and the rule unit tests are skipped; the PromQL and metric checks above ran.');
  it.skipIf(!promtool)('pass `promtool check rules` and the unit tests in booking-alerts.test.yml (each alert fires on its series and stays quiet otherwise)', () => {
    execFileSync('promtool', ['check', 'rules', RULES], { stdio: 'pipe' });
    execFileSync('promtool', ['test', 'rules', RULE_TESTS], { stdio: 'pipe', cwd: join(REPO_ROOT, 'docker/prometheus') });
  });
});

describe('the Grafana dashboard (docker/grafana/booking-facade.json)', () => {
  const exprs: string[] = [];
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === 'object') {
      const { expr } = o as { expr?: unknown };
      if (typeof expr === 'string') exprs.push(expr);
      Object.values(o).forEach(walk);
    }
  };
  walk(JSON.parse(readFileSync(DASHBOARD, 'utf8')));

  it.each(exprs.map((e) => [e]))('%s parses and names only exported metrics and labels', (expr) => {
    // Grafana's own variables, as it substitutes them before asking Prometheus.
    expect(problemsOf(expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '1m'))).toEqual([]);
  });

  it('has a panel for every alert group that watches a metric of ours', () => {
    expect(exprs.length).toBeGreaterThan(25);
    expect(exprs.some((e) => e.includes('booking_tls_expiry_timestamp_seconds'))).toBe(true);
  });
});
