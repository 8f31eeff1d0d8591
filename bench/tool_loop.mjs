// Tool-loop overhead: what running an MCP call inside a response costs, against calling the same
// MCP server directly with the official SDK client, in one run (interleaved, so machine noise
// hits both sides alike).
//   direct     one tools/call POSTed on an MCP session (the baseline)
//   sdk        the same call through the official SDK client (for comparison)
//   plain      a stored response that lists the server (listing cached) and answers, no call
//   read       the same response where the model calls echo (readOnlyHint: idempotent, journaled once)
//   write      the same where the model calls charge (not idempotent: journaled before and after)
// Overhead per call = (read|write) - plain - direct: the journal, the second model call and the
// bookkeeping of the loop. Usage: node bench/tool_loop.mjs [iterations]   (after `make build`;
// needs tests/e2e's npm packages: `cd tests/e2e && npm ci`).
import path from 'node:path';
import { createRequire } from 'node:module';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));
const { startMcpServer } = await import(path.join(e2e, 'mcp-fixture.mjs'));
const require = createRequire(path.join(e2e, 'package.json'));
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');

const N = Number(process.argv[2] || 200);
const upstream = await startFakeUpstream();
const mcp = await startMcpServer({});
const server = new Server({ upstream, env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } });
await server.start();
const direct = new Client({ name: 'bench', version: '1' });
await direct.connect(new StreamableHTTPClientTransport(new URL(mcp.url)));
const tools = [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never' }];
const respond = (input) => server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input, tools }) });

// The leanest direct call: one JSON-RPC POST on the SDK client's session, body read whole.
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream',
  'mcp-session-id': direct.transport.sessionId, 'mcp-protocol-version': '2025-11-25' };
let rid = 1000;
const raw = async () => {
  const r = await fetch(mcp.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: rid++, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } }) });
  const text = await r.text();
  if (!text.includes('echo:x')) throw new Error('raw call failed: ' + text);
};
const kinds = {
  direct: raw,
  sdk: () => direct.callTool({ name: 'echo', arguments: { text: 'x' } }),
  plain: () => respond('hello'),
  read: () => respond('MCP_CALL echo {"text":"x"}'),
  write: () => respond('MCP_CALL charge {"amount":1}'),
};
const times = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
for (let i = 0; i < 20; i++) for (const f of Object.values(kinds)) await f();  // warm-up
for (let i = 0; i < N; i++) {
  for (const [k, f] of Object.entries(kinds)) {
    const t0 = process.hrtime.bigint();
    const r = await f();
    times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r && r.status && r.status !== 200) throw new Error(`${k}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}
const p50 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, p50(v)]));
console.log(`iterations: ${N}`);
for (const [k, v] of Object.entries(m)) console.log(`p50 ${k.padEnd(6)} ${v.toFixed(2)} ms`);
for (const k of ['read', 'write']) {
  const over = m[k] - m.plain - m.direct;
  console.log(`${k}: loop overhead per call ${over.toFixed(2)} ms (= ${(over / m.direct).toFixed(2)} x a direct call); ` +
    `response with the call / direct call = ${(m[k] / m.direct).toFixed(2)}`);
}
await direct.close();
await server.stop();
server.cleanup();
await mcp.close();
await upstream.close();
