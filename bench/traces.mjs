// Tracing: what OTLP export costs a turn. Two servers on the same fake upstream, one exporting
// every span to a local collector (every 100 ms), one without a tracer; the same handoff turn
// (2 model calls, 1 tool call, 4 spans) sent to each in turn, so machine noise hits both alike.
// Usage: node bench/traces.mjs [iterations]   (after `make build`; needs tests/e2e's npm packages).
import http from 'node:http';
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));

const N = Number(process.argv[2] || 300);
let spans = 0;
const collector = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    for (const rs of JSON.parse(body).resourceSpans) for (const ss of rs.scopeSpans) spans += ss.spans.length;
    res.end('{}');
  });
});
await new Promise((r) => collector.listen(0, '127.0.0.1', r));
const upstream = await startFakeUpstream();
const traced = new Server({ upstream, env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collector.address().port}`, OTEL_BSP_SCHEDULE_DELAY: '100' } });
const plain = new Server({ upstream });
await traced.start();
await plain.start();
for (const s of [traced, plain]) {
  await s.json('/v1/agents', { method: 'POST', body: JSON.stringify({ name: 'bench', model: 'm', instructions: 'Answer.' }) });
  await s.json('/v1/agents', { method: 'POST', body: JSON.stringify({ name: 'triage', model: 'm', instructions: 'Route.', handoffs: ['bench'] }) });
}
const turn = (s) => async () => {
  const r = await s.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'agent:triage', input: 'MCP_CALL transfer_to_bench {}', memory: 'off' }) });
  if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(r.body)}`);
};
const fns = { untraced: turn(plain), traced: turn(traced) };
const p50 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const times = { untraced: [], traced: [] };
for (let i = 0; i < 20; i++) for (const f of Object.values(fns)) await f();
for (let i = 0; i < N; i++)
  for (const [k, f] of Object.entries(fns)) {
    const t0 = process.hrtime.bigint();
    await f();
    times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
await new Promise((r) => setTimeout(r, 500));
const u = p50(times.untraced), t = p50(times.traced);
console.log(`iterations: ${N} (handoff turns: 2 model calls, 1 tool call)`);
console.log(`untraced p50 ${u.toFixed(2)} ms`);
console.log(`traced   p50 ${t.toFixed(2)} ms`);
console.log(`traced / untraced        ${(t / u).toFixed(3)}  (spans received: ${spans}, ${(spans / (N + 20)).toFixed(1)} per turn)`);
await traced.stop();
await plain.stop();
traced.cleanup();
plain.cleanup();
await upstream.close();
collector.close();
