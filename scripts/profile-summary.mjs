#!/usr/bin/env node
// Prints where the time goes in a V8 .cpuprofile (from node --cpu-prof): busy share of the
// thread and the functions with the most self time. Usage: node scripts/profile-summary.mjs FILE [N]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const self = new Map();
let total = 0;
let idle = 0;
for (const [id, us] of dt) {
  const n = byId.get(id);
  const f = n.callFrame;
  const name = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '~/').replace(/^file:\/\/.*\/main\//, '')}:${f.lineNumber + 1}`;
  total += us;
  if (f.functionName === '(idle)') idle += us;
  self.set(name, (self.get(name) ?? 0) + us);
}
console.log(`${file}\n  sampled ${(total / 1e6).toFixed(2)} s, busy ${(((total - idle) / total) * 100).toFixed(1)}%`);
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`  ${((us / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
}
