/**
 * The one error catalogue (house style #1). Every error the project raises on purpose has a
 * stable code, an HTTP status and a message template declared here once. The HTTP layer turns a
 * CityError into `{ error: { code, message, details } }`; MQTT and the CLI print the same code.
 *
 * @example
 *   throw cityError('PLUGIN_NOT_FOUND', { pluginId: 'x' });
 */
export const ERRORS = {
  CONFIG_INVALID: { status: 500, message: 'configuration setting {setting} is invalid: {reason}' },
  REQUEST_INVALID: { status: 400, message: 'request is invalid: {reason}' },
  PAYLOAD_MALFORMED: { status: 400, message: 'payload could not be decoded as {format}: {reason}' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'payload of {size} bytes is over the limit of {limit} bytes' },
  MEDIA_TYPE_UNSUPPORTED: {
    status: 415,
    message: 'content type {contentType} is not accepted; send application/json, application/x-ndjson or application/x-protobuf',
  },
  EVENT_INVALID: { status: 422, message: 'event does not match the schema of plugin {pluginId}: {reason}' },
  PLUGIN_MANIFEST_INVALID: { status: 422, message: 'plugin registration is invalid: {reason}' },
  PLUGIN_EXISTS: { status: 409, message: 'plugin {pluginId} version {version} is already registered' },
  PLUGIN_NOT_FOUND: { status: 404, message: 'plugin {pluginId} is not registered' },
  PLUGIN_DISABLED: { status: 404, message: 'plugin {pluginId} is disabled; an operator can re-enable it' },
  AUTH_KEY_MISSING: { status: 401, message: 'an API key is required: send it as the X-API-Key header or a Bearer token' },
  AUTH_KEY_INVALID: { status: 401, message: 'the API key is not valid for {pluginId}: it is unknown, was replaced or was revoked' },
  AUTH_REQUIRED: { status: 401, message: 'this route needs credentials: sign in (POST /api/v1/auth/login) and send the access token as a Bearer token, or send an API key' },
  AUTH_TOKEN_INVALID: { status: 401, message: 'the access token is not valid ({reason}); refresh it (POST /api/v1/auth/refresh) or sign in again' },
  AUTH_FORBIDDEN: { status: 403, message: '{actor} may not {permission} on this route: {reason}' },
  AUTH_OUT_OF_SCOPE: { status: 403, message: '{what} is in zone {zoneId}, outside your scope ({scope})' },
  AUTH_WRONG_TENANT: { status: 403, message: 'your credentials belong to tenant {tenant}; this node serves tenant {nodeTenant}' },
  AUTH_SOURCE_NOT_ALLOWED: { status: 403, message: 'key {keyPrefix} may not be used from {remote}; its allow-list is {allowed}' },
  AUTH_LOGIN_FAILED: { status: 401, message: 'user name or password is wrong' },
  AUTH_LOCKED: { status: 429, message: 'too many failed sign-ins: the account is locked until {until}' },
  AUTH_REFRESH_INVALID: { status: 401, message: 'the refresh token is {reason}; sign in again' },
  AUTH_OTP_INVALID: { status: 401, message: 'the one-time code is {reason}; request a new one' },
  AUTH_USER_DISABLED: { status: 403, message: 'this account is disabled; a tenant admin can enable it again' },
  PASSWORD_INVALID: { status: 422, message: 'the password is not acceptable: {rule}' },
  PHONE_INVALID: { status: 422, message: 'phone number {phone} is not valid: {rule}' },
  NOTIFICATION_FAILED: { status: 502, message: 'the {channel} message could not be sent through {provider}: {reason}' },
  RATE_LIMITED: { status: 429, message: 'too many requests from {who}; retry in {retryAfterS} s' },
  USER_NOT_FOUND: { status: 404, message: 'user {userId} does not exist in tenant {tenantId}' },
  USER_EXISTS: { status: 409, message: 'a user with {field} {value} already exists in tenant {tenantId}' },
  USER_INVALID: { status: 422, message: 'user is invalid: {reason}' },
  TENANT_NOT_FOUND: { status: 404, message: 'tenant {tenantId} does not exist' },
  TENANT_EXISTS: { status: 409, message: 'tenant {tenantId} already exists' },
  DEVICE_NOT_FOUND: { status: 404, message: 'device {deviceId} does not exist' },
  DEVICE_EXISTS: { status: 409, message: 'device {deviceId} already exists' },
  DEVICE_INVALID: { status: 422, message: 'device {deviceId} is invalid: {reason}' },
  DEVICE_REVOKED: { status: 409, message: 'device {deviceId} was revoked at {at}; register a new device instead' },
  AUTH_TOPIC_FORBIDDEN: { status: 403, message: '{actor} may not {operation} {topic}: {reason}' },
  APPROVAL_NOT_FOUND: { status: 404, message: 'no approval request for decision {decisionId}' },
  APPROVAL_CONFLICT: { status: 409, message: 'decision {decisionId} was already {status} by {by} at {at}; nothing was changed' },
  APPROVAL_WRONG_LEVEL: { status: 403, message: 'decision {decisionId} waits for level L{level}; you are L{yourLevel}' },
  SUSPENSION_NOT_FOUND: { status: 404, message: 'no active suspension of {kind} {target}' },
  SUSPENSION_EXISTS: { status: 409, message: '{kind} {target} is already suspended (by {by} at {at})' },
  ROUTE_NOT_FOUND: { status: 404, message: 'no route {method} {url}; the API is described at /openapi.json and /docs' },
  EVENT_NOT_FOUND: { status: 404, message: 'event {eventId} is not stored on this node' },
  INTERNAL: { status: 500, message: 'internal error: {reason}' },
  ZONE_FILE_INVALID: { status: 422, message: 'zone file is invalid: {reason}' },
  ZONE_NOT_FOUND: { status: 404, message: 'zone {zoneId} does not exist' },
  ROADS_INVALID: { status: 422, message: 'road file is invalid: {reason}' },
  ROAD_PATH_NOT_FOUND: { status: 404, message: 'no road path from {from} to {to}: {reason}' },
  NOT_READY: { status: 503, message: 'the node is not ready: {reason}' },
  OVERLOADED: { status: 503, message: 'the node is at capacity ({reason}); retry after a moment' },
  SHUTTING_DOWN: { status: 503, message: 'the node is shutting down; retry against another node or later' },
  STORE_FAILED: { status: 500, message: 'the store could not commit: {reason}' },
  RULE_CONDITION_INVALID: { status: 422, message: 'condition is invalid at position {position}: {reason}' },
  RULE_INVALID: { status: 422, message: 'rule {rule} is invalid: {reason}' },
  RULE_NOT_FOUND: { status: 404, message: 'rule {rule} does not exist' },
  DECISION_NOT_FOUND: { status: 404, message: 'decision {decisionId} does not exist on this node' },
  ACTION_TARGET_INVALID: { status: 422, message: 'action target {target} is invalid: {reason}' },
  ACTION_TARGET_NOT_FOUND: { status: 404, message: 'action target {target} does not exist' },
  LINK_MESSAGE_INVALID: { status: 422, message: 'link message {index} from {source} is invalid: {reason}; nothing of this batch was applied' },
  JOB_INVALID: { status: 422, message: 'the job cannot be run: {reason}' },
  BLOB_NOT_FOUND: { status: 404, message: '{ref} is not in the data store' },
  JOB_NOT_FOUND: { status: 404, message: 'no job {jobId}' },
  QUOTA_EXCEEDED: { status: 429, message: '{holder} has reached its limit of {limit} {what}; wait for some to finish or cancel them' },
  LINK_AUTH_INVALID: { status: 401, message: 'the link credential is not valid ({reason}); the sending node may need to enrol again' },
  ENROL_TOKEN_INVALID: { status: 401, message: 'the enrolment token is {reason}; ask the parent node\'s admin for a new one (POST /api/v1/layer/enrolments)' },
  ENROL_MISMATCH: { status: 409, message: 'the enrolment token was issued for {expected}, not {given}' },
  ENROL_FAILED: { status: 502, message: 'enrolment with the parent at {url} failed: {reason}' },
  HIERARCHY_INVALID: { status: 422, message: '{reason}' },
  NODE_UNKNOWN: { status: 404, message: 'no linked node {nodeId}' },
  DIRECTIVE_NOT_FOUND: { status: 404, message: 'no directive {directiveId} on this node' },
  LINK_DELIVERY_FAILED: { status: 502, message: 'delivery to {destination} at {url} failed: {reason}' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorKey = keyof typeof ERRORS;
export type ErrorCode = `CITY_ERR_${ErrorKey}`;

export class CityError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;

  constructor(key: ErrorKey, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    const def = ERRORS[key];
    super(format(def.message, details), options);
    this.name = 'CityError';
    this.code = `CITY_ERR_${key}`;
    this.status = def.status;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function cityError(key: ErrorKey, details: Record<string, unknown> = {}, cause?: unknown): CityError {
  return new CityError(key, details, cause === undefined ? undefined : { cause });
}

function format(template: string, details: Record<string, unknown>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = details[name];
    return value === undefined ? `{${name}}` : String(value);
  });
}
