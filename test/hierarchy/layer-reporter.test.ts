import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TableNode, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely';
import type { AggregationReport } from '../../src/brain/aggregation.js';
import { LayerReporter, recordChildReport } from '../../src/hierarchy/layer-reporter.js';
import { LinkAuth } from '../../src/hierarchy/link-auth.js';
import type { LayerReport } from '../../src/hierarchy/report-merge.js';
import { openTestStore } from '../helpers/store.js';
import { waitFor } from '../helpers/wait.js';

const WINDOW_MS = 1_000;

/** A local's report of one window with `events` speeding events in its ward. */
function localReport(nodeId: string, startMs: number, events: number): AggregationReport {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    aggregation_report: {
      source_layer: nodeId,
      time_window: `${iso(startMs)} to ${iso(startMs + WINDOW_MS)}`,
      summary: {
        total_events: events,
        event_breakdown: { speeding_detected: events },
        escalated_incidents: [],
        resource_status: { ambulances_available: 0, fire_trucks_available: 0 },
        performance_metrics: { avg_processing_latency_ms: null, event_accuracy: null, p95_processing_latency_ms: null, decisions_measured: 0, approvals_resolved: 0 },
        zone_breakdown: { 'chennai-w109': events },
        rejected_events: 0,
        decisions_total: 0,
        escalated_incidents_total: 0,
        resource_totals: { ambulances_total: 0, fire_trucks_total: 0 },
      },
      report_id: `${nodeId}-${startMs}`,
      window_start: iso(startMs),
      window_end: iso(startMs + WINDOW_MS),
      generated_at: iso(startMs + WINDOW_MS),
      event_counts_from: 'live',
    },
  } as AggregationReport;
}

test("a child's report that arrives while its window is being merged is merged in a revision, not lost", async (t) => {
  const store = await openTestStore(t);
  const links = await LinkAuth.load({ db: store.db, tenantId: 'default', nodeId: 'district-teynampet' });
  const windowStart = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
  for (const [child, events] of [['local-w109', 300], ['local-w113', 100]] as const) {
    await store.db.transaction().execute((trx) => recordChildReport(trx, 'default', child, localReport(child, windowStart, events)));
  }

  // local-w113's report commits just after the merge of the window has read the children's
  // reports, before it is stored: the moment a busy district's link inbox can hit. The merge's
  // read is shown the inbox as it was before that commit (without local-w113's row), and the
  // inbox tells the reporter of the arrival right then, as it does after each commit. (The row
  // cannot be committed from inside the read: the read holds the store's one connection.)
  let reporter: LayerReporter | null = null;
  let arrived = false;
  const childReportReads = new Set<unknown>();
  const interleave: KyselyPlugin = {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      const from = args.node.kind === 'SelectQueryNode' ? args.node.from?.froms[0] : undefined;
      if (from && TableNode.is(from) && from.table.identifier.name === 'child_reports') childReportReads.add(args.queryId);
      return args.node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      if (arrived || !childReportReads.has(args.queryId)) return args.result;
      arrived = true;
      reporter!.childReportArrived(windowStart);
      return { ...args.result, rows: args.result.rows.filter((row) => row.source_node !== 'local-w113') };
    },
  };
  reporter = new LayerReporter({
    db: store.db.withPlugin(interleave),
    tenantId: 'default',
    nodeId: 'district-teynampet',
    role: 'district',
    zoneId: 'chennai-z09',
    zoneName: () => null,
    links,
    windowMs: WINDOW_MS,
    graceMs: 0,
    onReport: () => {},
    onError: (err) => assert.fail(err as Error),
  });
  t.after(() => reporter!.close());
  await reporter.start();

  const merged = await waitFor('the window merged with both children', async () => {
    const { reports } = await reporter!.list({ limit: 5 });
    const report = reports.find((r) => Date.parse(r.window_start) === windowStart)?.report as LayerReport | undefined;
    return report?.layer_report.summary.total_events === 400 ? report : undefined;
  }, 10_000);
  assert.ok(arrived, 'the second report arrived during the merge');
  assert.equal((merged.layer_report as { revision?: number }).revision, 2, 'the first merge missed it; a revision took it in');
});
