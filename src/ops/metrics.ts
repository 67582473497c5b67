import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The node's Prometheus metrics. One registry per node (not prom-client's global), so several
 * nodes can run in one process — tests and the benchmark do.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly eventsAccepted = new Counter({
    name: 'city_events_accepted_total',
    help: 'Events validated and durably stored, by plugin',
    labelNames: ['plugin'] as const,
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: 'city_events_rejected_total',
    help: 'Inputs refused and kept in the dead-letter table, by plugin and error code',
    labelNames: ['plugin', 'code'] as const,
    registers: [this.registry],
  });
  readonly ingestLatency = new Histogram({
    name: 'city_ingest_latency_seconds',
    help: 'From receipt of a request or message to its acknowledgement, by transport',
    labelNames: ['transport'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'city_store_commit_seconds',
    help: 'Time of one group commit of events to the store',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly commitRows = new Histogram({
    name: 'city_store_commit_rows',
    help: 'Rows written by one group commit',
    buckets: [1, 10, 100, 1000, 5000, 10000, 20000, 50000],
    registers: [this.registry],
  });
  readonly pendingRows = new Gauge({
    name: 'city_ingest_pending_rows',
    help: 'Validated events waiting for the next group commit',
    registers: [this.registry],
  });
  readonly mqttClients = new Gauge({
    name: 'city_mqtt_clients',
    help: 'Connected MQTT clients',
    registers: [this.registry],
  });
  readonly mqttRefused = new Counter({
    name: 'city_mqtt_refused_total',
    help: 'MQTT connections, publications and subscriptions the authorization policy refused, by stage and error code',
    labelNames: ['stage', 'code'] as const,
    registers: [this.registry],
  });

  readonly decisionsMade = new Counter({
    name: 'city_decisions_total',
    help: 'Decisions stored, by rule kind (action_trigger, correlation, sequence, count, absence) and severity',
    labelNames: ['kind', 'severity'] as const,
    registers: [this.registry],
  });
  readonly decisionLatency = new Histogram({
    name: 'city_decision_latency_seconds',
    help: 'From receipt of the triggering event to its stored decision',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly actionsFinished = new Counter({
    name: 'city_actions_finished_total',
    help: 'Actions that reached a final status, by type and status (COMPLETED, FAILED, CANCELLED)',
    labelNames: ['type', 'status'] as const,
    registers: [this.registry],
  });

  readonly streamClients = new Gauge({ name: 'city_stream_clients', help: 'Connected live-stream WebSocket clients', registers: [this.registry] });
  readonly streamDropped = new Counter({ name: 'city_stream_dropped_total', help: 'Live-stream messages dropped for clients that did not keep up', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'city_process_' });
  }
}
