import type { ColumnType, Generated } from 'kysely';

/** Timestamps are written as Date or ISO text and read back as Date. */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
/** A timestamp the database fills in by default (now()). */
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** jsonb columns: written as JSON text (pg and PGlite agree on that), read back parsed. */
type Json<T = unknown> = ColumnType<T, string, string>;

export interface NodeSecretsTable {
  name: string;
  value: string;
  created_at: DefaultTimestamp;
}

export interface TenantsTable {
  id: string;
  name: string;
  created_at: DefaultTimestamp;
}

export interface ZonesTable {
  tenant_id: string;
  id: string;
  name: string;
  level: string;
  parent_id: string | null;
  geometry: Json | null;
  properties: Json<Record<string, unknown>>;
}

export interface PluginsTable {
  tenant_id: string;
  model_id: string;
  vendor: string;
  api_key_hash: string;
  api_key_prefix: string;
  enabled: boolean;
  current_version: string;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface PluginVersionsTable {
  tenant_id: string;
  model_id: string;
  version: string;
  event_type: string;
  manifest: Json<Record<string, unknown>>;
  output_schema: Json<Record<string, unknown>>;
  action_definitions: Json<unknown[]>;
  json_schema: Json<Record<string, unknown>>;
  personal_paths: Json<string[][]>;
  enabled: boolean;
  created_at: DefaultTimestamp;
}

export interface EventsTable {
  seq: Generated<string>;
  tenant_id: string;
  event_id: string;
  plugin_id: string;
  plugin_version: string;
  event_type: string;
  severity: string | null;
  confidence: number | null;
  ts: Timestamp;
  received_at: Timestamp;
  zone_id: string | null;
  lat: number | null;
  lng: number | null;
  payload: Json<Record<string, unknown>>;
}

export interface DeadLettersTable {
  id: Generated<string>;
  tenant_id: string;
  received_at: DefaultTimestamp;
  source: string;
  plugin_id: string | null;
  remote: string | null;
  content_type: string | null;
  code: string;
  reason: string;
  details: Json<Record<string, unknown>>;
  payload: Buffer | null;
  payload_size: number;
  truncated: boolean;
}

export interface Database {
  node_secrets: NodeSecretsTable;
  tenants: TenantsTable;
  zones: ZonesTable;
  plugins: PluginsTable;
  plugin_versions: PluginVersionsTable;
  events: EventsTable;
  dead_letters: DeadLettersTable;
}
