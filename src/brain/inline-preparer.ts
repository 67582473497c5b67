import type { RoleScreen } from '../rules/role-screen.js';
import { decodePayload } from './decode.js';
import type { BatchPreparer, PrepareRequest } from './ingest.js';
import { prepareBatch, type EventScreen, type PreparedBatch, type ZoneLocator } from './ingest-batch.js';

/** The correlation rules as ingestion sees them: the current compiled screen and its source. */
export interface RuleSource {
  /** The current role screen (rebuilt whole when the rules change), or null when no rule is loaded. */
  roleScreen(): RoleScreen | null;
  /** The enabled rules as plain data (for ingest workers to compile their own replica). */
  specs(): import('../rules/correlation-types.js').CorrelationRuleSpec[];
  onChange(listener: () => void): void;
}

/** The screen for one batch: the given role screen, and summaries of every event if wanted. */
export function eventScreen(roles: RoleScreen | null, summaries: boolean): EventScreen {
  return {
    roles: roles === null ? () => [] : (eventType, pluginId, event) => roles.screen(eventType, pluginId, event),
    summaries,
  };
}

/** Decodes and prepares on the calling thread: for one-core machines, small bodies and tests. */
export class InlinePreparer implements BatchPreparer {
  constructor(
    private readonly tenantId: string,
    private readonly zones: ZoneLocator,
    private readonly rules: RuleSource | null = null,
  ) {}

  async prepare(r: PrepareRequest): Promise<PreparedBatch & { batch: boolean }> {
    const { items, batch } = decodePayload(r.bytes, r.format, r.maxItems);
    const screen = eventScreen(this.rules?.roleScreen() ?? null, r.summaries);
    return { ...prepareBatch(this.tenantId, r.plugin, items, this.zones, r.receivedAtMs, r.zoneHint, screen), batch };
  }

  async close(): Promise<void> {}
}
