// WebSocket mode against HTTP: the latency of one streamed turn over an open socket against the
// same turn over HTTP (keep-alive fetch, SSE), interleaved in one run, p50 and p99 of each; then
// the memory an idle socket holds (RSS before and after opening S sockets, per socket).
// Usage: node bench/socket.mjs [turns] [sockets]   (after `make build`; needs tests/e2e's npm
// packages: `cd tests/e2e && npm ci`).
import fs from 'node:fs';
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server, KEY } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));
const { default: WebSocket } = await import(path.join(e2e, 'node_modules/ws/wrapper.mjs'));

const N = Number(process.argv[2] || 500);
const S = Number(process.argv[3] || 1000);
const upstream = await startFakeUpstream();
const server = new Server({ upstream });
await server.start();
const rss = () => Number(fs.readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024;
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];
const body = { model: 'gpt-4o', input: 'hello', store: false, memory: 'off' };

const ws = new WebSocket(server.base.replace('http', 'ws') + '/v1/responses', { headers: { authorization: `Bearer ${KEY}` } });
await new Promise((r) => ws.on('open', r));
let pending = null;
ws.on('message', (d) => { const e = JSON.parse(String(d)); if (e.type === 'response.completed' && pending) { const p = pending; pending = null; p(); } });
const overSocket = () => new Promise((r) => { pending = r; ws.send(JSON.stringify({ type: 'response.create', ...body })); });
const overHttp = async () => {
  const r = await fetch(server.base + '/v1/responses', { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }) });
  await r.text();
};
const times = { http: [], socket: [] };
for (let i = 0; i < 50; i++) { await overHttp(); await overSocket(); }  // warm-up
for (let i = 0; i < N; i++) {
  for (const [k, f] of [['http', overHttp], ['socket', overSocket]]) {
    const t0 = process.hrtime.bigint();
    await f();
    times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
console.log(`turns: ${N} each, interleaved (streamed, store: false)`);
for (const k of ['http', 'socket']) console.log(`${k.padEnd(6)} p50 ${pct(times[k], 0.5).toFixed(3)} ms  p99 ${pct(times[k], 0.99).toFixed(3)} ms`);
console.log(`socket - http: p50 ${(pct(times.socket, 0.5) - pct(times.http, 0.5)).toFixed(3)} ms, p99 ${(pct(times.socket, 0.99) - pct(times.http, 0.99)).toFixed(3)} ms; ratio p50 ${(pct(times.socket, 0.5) / pct(times.http, 0.5)).toFixed(3)}`);
ws.close();

// Idle sockets.
await new Promise((r) => setTimeout(r, 1000));
const before = rss();
const sockets = [];
for (let i = 0; i < S; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, S - i) }, () => new Promise((resolve, reject) => {
    const s = new WebSocket(server.base.replace('http', 'ws') + '/v1/responses', { headers: { authorization: `Bearer ${KEY}` } });
    s.on('open', () => { sockets.push(s); resolve(); });
    s.on('error', reject);
  })));
}
await new Promise((r) => setTimeout(r, 2000));
const after = rss();
console.log(`idle sockets: ${S}; server RSS ${before.toFixed(1)} -> ${after.toFixed(1)} MiB: ${(((after - before) * 1024) / S).toFixed(1)} KiB per socket`);
for (const s of sockets) s.terminate();
await server.stop();
await upstream.close();
server.cleanup();
