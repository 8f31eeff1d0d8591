// Agents: what running as an agent costs against the same plain request, what a handoff adds,
// and what a metrics scrape costs once many conversations exist — in one run, interleaved, so
// machine noise hits every side alike.
//   plain     POST /v1/responses {model: "m", instructions, tools}           (the baseline)
//   agent     the same as {model: "agent:bench"}, whose definition holds that model,
//             instructions and tools
//   handoff   {model: "agent:triage"}: triage calls transfer_to_bench, then bench answers; against
//             `agent` this is what a handoff adds (a second model call, the journaled handoff call,
//             the switch of model, instructions and tools)
//   healthz / metrics   GET /healthz against GET /metrics, after C conversations were created
// Usage: node bench/agents.mjs [iterations] [conversations]   (after `make build`; needs
// tests/e2e's npm packages: `cd tests/e2e && npm ci`).
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));

const N = Number(process.argv[2] || 300);
const C = Number(process.argv[3] || 10000);
const upstream = await startFakeUpstream();
const server = new Server({ upstream });
await server.start();
const post = (p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });
const tools = [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: { id: { type: 'string' } } } }];
const instructions = 'You are the bench agent. Answer briefly.';
await post('/v1/agents', { name: 'bench', model: 'm', instructions, tools });
await post('/v1/agents', { name: 'triage', model: 'm', instructions: 'Route.', handoffs: ['bench'] });
const ok = (r) => { if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(r.body)}`); return r; };
const kinds = {
  plain: async () => ok(await post('/v1/responses', { model: 'm', instructions, tools, input: 'hello', memory: 'off' })),
  agent: async () => ok(await post('/v1/responses', { model: 'agent:bench', input: 'hello', memory: 'off' })),
  handoff: async () => ok(await post('/v1/responses', { model: 'agent:triage', input: 'MCP_CALL transfer_to_bench {}', memory: 'off' })),
};
const p50 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const run = async (fns, n) => {
  const times = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  for (let i = 0; i < 20; i++) for (const f of Object.values(fns)) await f();  // warm-up
  for (let i = 0; i < n; i++)
    for (const [k, f] of Object.entries(fns)) {
      const t0 = process.hrtime.bigint();
      await f();
      times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, p50(v)]));
};
const m = await run(kinds, N);
console.log(`iterations: ${N}`);
for (const [k, v] of Object.entries(m)) console.log(`${k.padEnd(9)} p50 ${v.toFixed(2)} ms`);
console.log(`agent / plain            ${(m.agent / m.plain).toFixed(3)}  (overhead ${(m.agent - m.plain).toFixed(2)} ms)`);
console.log(`handoff / agent          ${(m.handoff / m.agent).toFixed(3)}  (a handoff adds ${(m.handoff - m.agent).toFixed(2)} ms)`);

// Conversations, then the scrape against /healthz.
for (let i = 0; i < C; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, C - i) }, () => post('/v1/conversations', { items: [{ role: 'user', content: 'hi' }] })));
}
const scrape = async () => { const r = await server.fetch('/metrics'); if (r.status !== 200) throw new Error(String(r.status)); await r.text(); };
const health = async () => { const r = await fetch(`${server.base}/healthz`); await r.text(); };
const s = await run({ healthz: health, metrics: scrape }, N);
const size = (await (await server.fetch('/metrics')).text()).length;
console.log(`conversations: ${C}`);
console.log(`healthz   p50 ${s.healthz.toFixed(3)} ms`);
console.log(`metrics   p50 ${s.metrics.toFixed(3)} ms  (${size} bytes; ratio to healthz ${(s.metrics / s.healthz).toFixed(2)})`);
await server.stop();
await upstream.close();
server.cleanup();
