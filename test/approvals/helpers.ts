import assert from 'node:assert/strict';
import { call } from '../helpers/node.js';
import type { SignedIn } from '../helpers/users.js';
import { CHENNAI_ZONES, seedRegistration, speedingEvent } from '../helpers/fixtures.js';
import { recorder, type Recorder } from '../helpers/recorder.js';
import { waitFor } from '../helpers/wait.js';

export { waitFor };


/** The ward of the seed's speeding event (Teynampet), a neighbouring ward, and their district. */
export const WARD = 'chennai-w119';
export const OTHER_WARD = 'chennai-w118';
export const DISTRICT = 'chennai-z09';

/** A fines system that answers 200 and remembers every command it got. */
export async function finesSystem(t: { after(fn: () => unknown): void }): Promise<Recorder> {
  const fines = await recorder('/fines', 'fine issued');
  t.after(() => fines.close());
  return fines;
}

/** A node on the Chennai zones whose `fines_system` target is `fines` (MQTT off: not needed here). */
export function finesNodeConfig(fines: { url: string }) {
  return { zonesFile: CHENNAI_ZONES, mqtt: { enabled: false }, actions: { targets: { fines_system: { kind: 'webhook' as const, url: fines.url } } } };
}

/**
 * The seed's registration (seed 001 §2.2) plus a fine sent to `fines_system` that itself
 * requires approval, and the escalation rule given (the seed's 30 minutes by default).
 */
export function finedRegistration(escalation?: { condition: string; action: string }): Record<string, any> {
  const registration = seedRegistration();
  if (escalation) registration.action_definitions[0].escalation_rules = [escalation];
  registration.action_definitions[0].actions.push({ type: 'actuate', target: 'fines_system', requires_approval: true, parameters: { fine_inr: 1000 } });
  return registration;
}

type Node = { url: string; admin: Record<string, string> };

/** Registers `registration` and answers its plugin key. */
export async function register(node: Node, registration: Record<string, any>): Promise<string> {
  const res = await call(node, 'POST', '/api/v1/plugin/register', { headers: node.admin, body: registration });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.api_key;
}

/** Sends the seed's speeding event (85 km/h, high, 0.9) and waits for its decision. */
export async function decideSpeeding(node: Node, key: string, eventId: string, overrides: Record<string, unknown> = {}): Promise<any> {
  const res = await call(node, 'POST', '/webhook/traffic-violation-detector-v2', { headers: { 'x-api-key': key }, body: speedingEvent({ event_id: eventId, ...overrides }) });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const [decision] = await waitFor(`the decision on ${eventId}`, async () => {
    const d = (await call(node, 'GET', `/api/v1/decisions?event_id=${encodeURIComponent(eventId)}`, { headers: node.admin })).body.decisions;
    return d.length > 0 && d;
  });
  return decision;
}

export async function decision(node: Node, decisionId: string): Promise<any> {
  const res = await call(node, 'GET', `/api/v1/decisions/${decisionId}`, { headers: node.admin });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

export async function queue(node: Node, who: SignedIn, query = ''): Promise<any[]> {
  const res = await call(node, 'GET', `/api/v1/authority/pending-approvals${query}`, { headers: who.headers });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.approvals;
}

export function answer(node: Node, who: SignedIn | { headers: Record<string, string> }, decisionId: string, action: 'approve' | 'reject' | 'escalate', notes?: string) {
  return call(node, 'POST', '/api/v1/authority/approve-decision', { headers: who.headers, body: { decision_id: decisionId, action, ...(notes ? { notes } : {}) } });
}

/** The entries of a named log written for `decisionId`. */
export async function logEntries(node: Node, log: string, decisionId: string): Promise<any[]> {
  const body = (await call(node, 'GET', `/api/v1/logs/${log}?limit=1000`, { headers: node.admin })).body;
  return body.entries.filter((e: any) => e.decision_id === decisionId);
}
