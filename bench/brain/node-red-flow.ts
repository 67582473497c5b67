/**
 * The Node-RED peer's flow (bench/brain/node-red-peer.ts): the workload's action triggers and
 * correlation rules (workload.ts) as generated JavaScript in Node-RED function nodes, so both
 * engines run the same conditions and correlations from one definition.
 */
import { CORRELATION_TABLES, JS_HELPERS, PLUGIN_SPECS, conditionsToJs, triggerRuleId } from './workload.js';

export interface NodeRedFlowOptions {
  brokerHost?: string;
  brokerPort: number;
  /** Events arrive on `${eventsTopic}/{model_id}` as JSON arrays; control messages on `${eventsTopic}/_control`. */
  eventsTopic?: string;
  decisionsTopic?: string;
  /** Where the file node appends one JSON line of decisions per input message ("persistence on"). */
  decisionsFile: string;
  qos?: 0 | 1;
}

/** The JavaScript of the action-trigger function node's On Start: per plugin, a mask function and the definitions. */
function triggersInit(): string {
  const plugins = PLUGIN_SPECS.map((p, pi) => {
    const defs = p.definitions.map((d, di) => ({ id: triggerRuleId(pi, di), actions: d.actions }));
    return `${JSON.stringify(p.manifest.model_id)}: { test: ${conditionsToJs(p.definitions.map((d) => d.when))}, defs: ${JSON.stringify(defs)} }`;
  });
  return `${JS_HELPERS}\ncontext.set('plugins', {\n${plugins.join(',\n')}\n});\n`;
}

const TRIGGERS_FUNC = `
// Action triggers (seed 001 §2.2 step 3): each event of the batch against its plugin's definitions.
const batch = msg.payload;
if (!Array.isArray(batch)) return msg; // control message: on to the correlation node
const plugin = context.get('plugins')[msg.topic.slice(msg.topic.lastIndexOf('/') + 1)];
const decisions = [];
if (plugin !== undefined) {
  const defs = plugin.defs;
  for (let i = 0; i < batch.length; i++) {
    const e = batch[i];
    const m = plugin.test(e);
    if (m === 0) continue;
    for (let d = 0; d < defs.length; d++) {
      if ((m & (1 << d)) !== 0) decisions.push({ r: defs[d].id, k: 'action_trigger', e: e.event_id, c: e.event_id, a: defs[d].actions });
    }
  }
}
msg.decisions = decisions;
return msg;
`;

/**
 * The correlation node's engine (On Start), plain JavaScript for Node-RED's function sandbox.
 * RULES and ROLE_TESTS are prepended. Windows live in node context (memory store): grids of
 * ~radius cells per role, pruned a window (plus a window of slack for batch reordering) behind
 * the newest event time; pending triggers, partial sequences and waiting absences likewise.
 */
const CEP_ENGINE = String.raw`
const DEG = Math.PI / 180;
function dist(aLat, aLng, bLat, bLng) {
  const dLat = (bLat - aLat) * DEG, dLng = (bLng - aLng) * DEG;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(aLat * DEG) * Math.cos(bLat * DEG) * Math.sin(dLng / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}
function read(e, path) {
  let o = e;
  for (let i = 0; i < path.length && o != null; i++) o = o[path[i]];
  return o;
}
function keyOf(e, paths) {
  let k = '';
  for (let i = 0; i < paths.length; i++) {
    const v = read(e, paths[i]);
    if (v === undefined || v === null) return null;
    k += (i ? '\u0001' : '') + String(v);
  }
  return k;
}
// A grid of cells about radiusM wide (twice as wide in longitude, good to 60° latitude). A cell is
// an arrival-order array with a head: what falls out of the window is dropped from the front.
function Grid(radiusM) {
  this.h = radiusM / 111320;
  this.w = radiusM / (111320 * 0.5);
  this.cells = new Map();
}
Grid.prototype.add = function (x) {
  const k = Math.floor((x.lat + 90) / this.h) * 1e6 + Math.floor((x.lng + 180) / this.w);
  const c = this.cells.get(k);
  if (c === undefined) this.cells.set(k, { a: [x], h: 0 }); else c.a.push(x);
};
// Calls fn(x) for live entries in the 3×3 cells around (lat, lng) until fn returns true.
Grid.prototype.near = function (lat, lng, fn) {
  const cy = Math.floor((lat + 90) / this.h), cx = Math.floor((lng + 180) / this.w);
  for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
    const c = this.cells.get((cy + dy) * 1e6 + cx + dx);
    if (c === undefined) continue;
    const a = c.a;
    for (let i = c.h; i < a.length; i++) if (!a[i].used && fn(a[i])) return true;
  }
  return false;
};
Grid.prototype.prune = function (cutoff) {
  for (const [k, c] of this.cells) {
    let h = c.h;
    while (h < c.a.length && (c.a[h].used || c.a[h].ts < cutoff)) h++;
    if (h === c.a.length) this.cells.delete(k);
    else if (h > 32 && h * 2 > c.a.length) { c.a = c.a.slice(h); c.h = 0; }
    else c.h = h;
  }
};
function Engine(rules, tests) {
  this.rules = rules;
  this.tests = tests;
  this.wm = -Infinity;
  this.seq = 0;
  this.sinceSweep = 0;
  this.fits = new Int32Array(rules.length);
  this.state = rules.map((r) => ({
    grids: r.roles.map((role) => new Grid(role.radiusM || r.radiusM || 1000)),
    pending: new Grid(Math.max.apply(null, r.roles.map((role) => role.radiusM || r.radiusM || 1000))),
    partials: new Map(),
    queue: [],
    waiting: new Map(),
    wmB: -Infinity,
  }));
  // Roles by "event_type  source": an event looks only at the roles it could play.
  this.index = new Map();
  rules.forEach((rule, r) => rule.roles.forEach((role, k) => {
    const key = role.type + '' + role.source;
    let slot = this.index.get(key);
    if (slot === undefined) this.index.set(key, (slot = { roles: [], rules: [], inB: [] }));
    slot.roles.push({ r: r, k: k });
    if (!slot.rules.includes(r)) {
      slot.rules.push(r);
      slot.inB.push(rule.kind === 'absence' && key === rule.roles[1].type + '' + rule.roles[1].source);
    }
  }));
}
Engine.prototype.event = function (e, source, out) {
  const slot = this.index.get(e.event_type + '' + source);
  if (slot === undefined) return;
  const ts = Date.parse(e.timestamp);
  const loc = e.location || {};
  const lat = loc.latitude, lng = loc.longitude;
  if (ts > this.wm) this.wm = ts;
  const fits = this.fits;
  for (let i = 0; i < slot.roles.length; i++) {
    const { r, k } = slot.roles[i];
    const test = this.tests[r][k];
    if (test === null || test(e)) fits[r] |= 1 << k;
  }
  for (let i = 0; i < slot.rules.length; i++) {
    const r = slot.rules[i];
    const rule = this.rules[r], st = this.state[r], fit = fits[r];
    fits[r] = 0;
    if (rule.kind === 'absence') { this.absence(rule, st, e, ts, lat, lng, fit, slot.inB[i], out); continue; }
    if (fit === 0) continue;
    const x = { id: e.event_id, ts: ts, lat: lat, lng: lng, used: false, seq: this.seq++ };
    if (rule.kind === 'correlation') this.correlation(rule, st, x, fit, out);
    else if (rule.kind === 'sequence') this.sequence(rule, st, e, x, fit, out);
    else this.count(rule, st, x, out);
  }
  if (++this.sinceSweep >= 20000) { this.sinceSweep = 0; this.sweep(); }
};
Engine.prototype.correlation = function (rule, st, x, fit, out) {
  const n = rule.roles.length;
  for (let k = 1; k < n; k++) {
    if ((fit & (1 << k)) === 0) continue;
    const role = rule.roles[k];
    st.grids[k].add(x);
    // Triggers still waiting for this role, nearby.
    st.pending.near(x.lat, x.lng, (p) => {
      if (p.found[k] !== undefined || Math.abs(x.ts - p.ts) > role.windowMs || dist(p.lat, p.lng, x.lat, x.lng) > role.radiusM) return false;
      p.found[k] = x.id;
      if (--p.missing === 0) {
        p.used = true;
        out.push({ r: rule.name, k: 'correlation', e: p.id, c: x.id, ids: [p.id].concat(p.found.slice(1)), a: rule.actions });
      }
      return false;
    });
  }
  if ((fit & 1) === 0) return;
  const p = { id: x.id, ts: x.ts, lat: x.lat, lng: x.lng, used: false, found: new Array(n), missing: 0 };
  for (let k = 1; k < n; k++) {
    const role = rule.roles[k];
    let hit;
    st.grids[k].near(x.lat, x.lng, (y) => {
      if (Math.abs(y.ts - x.ts) <= role.windowMs && dist(x.lat, x.lng, y.lat, y.lng) <= role.radiusM) { hit = y.id; return true; }
      return false;
    });
    if (hit === undefined) p.missing++; else p.found[k] = hit;
  }
  if (p.missing === 0) out.push({ r: rule.name, k: 'correlation', e: x.id, c: x.id, ids: [x.id].concat(p.found.slice(1)), a: rule.actions });
  else st.pending.add(p);
};
Engine.prototype.sequence = function (rule, st, e, x, fit, out) {
  const key = keyOf(e, rule.matchOn);
  if (key === null) return;
  const last = rule.roles.length - 1;
  for (let k = last; k >= 1; k--) {
    if ((fit & (1 << k)) === 0) continue;
    const list = st.partials.get(key);
    if (list === undefined) continue;
    for (let i = list.length - 1; i >= 0; i--) {
      const p = list[i];
      if (p.next !== k || x.ts < p.lastTs || x.ts - p.ts > rule.windowMs || (rule.radiusM !== null && dist(p.lat, p.lng, x.lat, x.lng) > rule.radiusM)) continue;
      p.ids.push(x.id);
      p.lastTs = x.ts;
      if (++p.next > last) {
        out.push({ r: rule.name, k: 'sequence', e: p.id, c: x.id, ids: p.ids, a: rule.actions });
        list.splice(i, 1);
      }
    }
    if (list.length === 0) st.partials.delete(key);
  }
  if ((fit & 1) !== 0) {
    const p = { id: x.id, ts: x.ts, lastTs: x.ts, lat: x.lat, lng: x.lng, next: 1, ids: [x.id] };
    const list = st.partials.get(key);
    if (list === undefined) st.partials.set(key, [p]); else list.push(p);
  }
};
Engine.prototype.count = function (rule, st, x, out) {
  const near = [];
  st.grids[0].near(x.lat, x.lng, (y) => {
    if (Math.abs(y.ts - x.ts) <= rule.windowMs && dist(x.lat, x.lng, y.lat, y.lng) <= rule.radiusM) near.push(y);
    return false;
  });
  let group = null;
  if (near.length + 1 >= rule.count) {
    // The count consecutive events (in time) that include this one and span at most the window,
    // preferring those that end with it.
    near.push(x);
    near.sort((a, b) => a.ts - b.ts || a.seq - b.seq);
    const at = near.indexOf(x);
    for (let i = Math.max(0, at - rule.count + 1); i <= at && i + rule.count <= near.length && group === null; i++) {
      if (near[i + rule.count - 1].ts - near[i].ts <= rule.windowMs) group = near.slice(i, i + rule.count);
    }
  }
  if (group === null) { st.grids[0].add(x); return; }
  for (let i = 0; i < group.length; i++) group[i].used = true;
  out.push({ r: rule.name, k: 'count', e: group[0].id, c: x.id, ids: group.map((y) => y.id), a: rule.actions });
};
Engine.prototype.absence = function (rule, st, e, ts, lat, lng, fit, inBStream, out) {
  if ((fit & 2) !== 0) {
    const key = keyOf(e, rule.matchOn);
    const list = key === null ? undefined : st.waiting.get(key);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const a = list[i];
        if (!a.done && ts >= a.ts && ts <= a.deadline && (rule.radiusM === null || dist(a.lat, a.lng, lat, lng) <= rule.radiusM)) a.done = true;
      }
    }
  }
  if (inBStream && ts > st.wmB) st.wmB = ts;
  if (inBStream) {
    let keep = 0;
    for (let i = 0; i < st.queue.length; i++) {
      const a = st.queue[i];
      if (!a.done && a.deadline < st.wmB) {
        a.done = true;
        out.push({ r: rule.name, k: 'absence', e: a.id, c: e.event_id, ids: [a.id], a: rule.actions });
      }
      if (!a.done) st.queue[keep++] = a;
    }
    st.queue.length = keep;
  }
  if ((fit & 1) !== 0) {
    const key = keyOf(e, rule.matchOn);
    if (key === null) return;
    const a = { id: e.event_id, ts: ts, deadline: ts + rule.windowMs, lat: lat, lng: lng, done: false };
    st.queue.push(a);
    const list = st.waiting.get(key);
    if (list === undefined) st.waiting.set(key, [a]); else list.push(a);
  }
};
// Bounded memory: drop what no future event can match (a window, plus one of slack, behind the newest event time).
Engine.prototype.sweep = function () {
  for (let r = 0; r < this.rules.length; r++) {
    const rule = this.rules[r], st = this.state[r];
    const cutoff = this.wm - 2 * rule.windowMs;
    for (const g of st.grids) g.prune(cutoff);
    st.pending.prune(cutoff);
    for (const [k, list] of st.partials) {
      const live = list.filter((p) => p.ts >= cutoff);
      if (live.length === 0) st.partials.delete(k); else st.partials.set(k, live);
    }
    for (const [k, list] of st.waiting) {
      const live = list.filter((a) => !a.done);
      if (live.length === 0) st.waiting.delete(k); else st.waiting.set(k, live);
    }
  }
};
`;

function cepInit(): string {
  const rules = CORRELATION_TABLES.map((t) => ({
    name: t.name,
    kind: t.kind,
    windowMs: t.windowMs,
    radiusM: t.radiusM,
    count: t.count ?? null,
    matchOn: (t.matchOn ?? []).map((m) => m.split('.')),
    actions: t.actions,
    roles: t.roles.map((r) => ({ type: r.event_type, source: r.source, windowMs: t.windowMs, radiusM: t.radiusM })),
  }));
  const tests = CORRELATION_TABLES.map((t) => `[${t.roles.map((r) => (r.when ? `(function () { const f = ${conditionsToJs([r.when])}; return (e) => f(e) !== 0; })()` : 'null')).join(', ')}]`);
  return `${JS_HELPERS}\n${CEP_ENGINE}\nconst RULES = ${JSON.stringify(rules)};\nconst ROLE_TESTS = [\n${tests.join(',\n')}\n];\ncontext.set('engine', new Engine(RULES, ROLE_TESTS));\ncontext.set('Engine', Engine);\ncontext.set('RULES', RULES);\ncontext.set('ROLE_TESTS', ROLE_TESTS);\n`;
}

const CEP_FUNC = `
// Correlation rules (seed 001 §3.3) over the batch, then the batch's decisions out (or nothing).
const batch = msg.payload;
if (!Array.isArray(batch)) {
  // Control: { ping } answers { pong } through the same path; { reset: true } starts afresh.
  if (batch && batch.reset === true) context.set('engine', new (context.get('Engine'))(context.get('RULES'), context.get('ROLE_TESTS')));
  msg.payload = [{ pong: batch && batch.ping !== undefined ? batch.ping : null, t: Date.now() }];
  return msg;
}
const engine = context.get('engine');
const out = msg.decisions || [];
const source = msg.topic.slice(msg.topic.lastIndexOf('/') + 1);
for (let i = 0; i < batch.length; i++) engine.event(batch[i], source, out);
if (out.length === 0) return null;
const now = Date.now();
for (let i = 0; i < out.length; i++) out[i].t = now;
msg.payload = out;
delete msg.decisions;
return msg;
`;

/**
 * The Node-RED flow (flows.json): mqtt in (JSON arrays, QoS 1) → "action triggers" function →
 * "correlations" function → file node (append one JSON line of decisions per message; it passes
 * the message on once written) → mqtt out (the same array). Conditions are the generated
 * JavaScript of the same trees as the rule texts.
 */
export function nodeRedFlow(opts: NodeRedFlowOptions): Record<string, unknown>[] {
  const topic = opts.eventsTopic ?? 'bench/events';
  const qos = String(opts.qos ?? 1);
  const z = 'tab-brain';
  return [
    { id: z, type: 'tab', label: 'City brain peer', disabled: false, info: 'Generated by bench/brain/workload.ts' },
    {
      id: 'broker',
      type: 'mqtt-broker',
      name: 'bench broker',
      broker: opts.brokerHost ?? '127.0.0.1',
      port: String(opts.brokerPort),
      clientid: 'node-red-peer',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
    },
    { id: 'in', type: 'mqtt in', z, name: 'events', topic: `${topic}/+`, qos, datatype: 'json', broker: 'broker', nl: false, rap: true, rh: 0, inputs: 0, x: 110, y: 80, wires: [['triggers']] },
    { id: 'triggers', type: 'function', z, name: 'action triggers', func: TRIGGERS_FUNC, outputs: 1, timeout: 0, noerr: 0, initialize: triggersInit(), finalize: '', libs: [], x: 300, y: 80, wires: [['cep']] },
    { id: 'cep', type: 'function', z, name: 'correlations', func: CEP_FUNC, outputs: 1, timeout: 0, noerr: 0, initialize: cepInit(), finalize: '', libs: [], x: 490, y: 80, wires: [['file']] },
    { id: 'file', type: 'file', z, name: 'decisions log', filename: opts.decisionsFile, filenameType: 'str', appendNewline: true, createDir: true, overwriteFile: 'false', encoding: 'none', x: 680, y: 80, wires: [['out']] },
    { id: 'out', type: 'mqtt out', z, name: 'decisions', topic: opts.decisionsTopic ?? 'bench/decisions', qos, retain: 'false', broker: 'broker', x: 860, y: 80, wires: [] },
  ];
}

/** The generated JavaScript (triggers and correlations), for checking it outside Node-RED. */
export function nodeRedCode(): { triggersInit: string; triggersFunc: string; cepInit: string; cepFunc: string } {
  return { triggersInit: triggersInit(), triggersFunc: TRIGGERS_FUNC, cepInit: cepInit(), cepFunc: CEP_FUNC };
}
