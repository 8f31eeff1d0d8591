// Continuum as an MCP server: the official @modelcontextprotocol/sdk client lists and calls the
// memory tools at /mcp, scoped to the caller's identity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { withServer, KEY } from './harness.mjs';

async function connect(server, headers) {
  const client = new Client({ name: 'e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${server.base}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return client;
}

test('mcp server: the SDK client writes and searches memory as the user it acts for', async () => {
  await withServer({}, async ({ server }) => {
    const ada = await connect(server, { authorization: `Bearer ${KEY}`, 'x-continuum-user': 'ada' });
    const { tools } = await ada.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ['memory_search', 'memory_write']);
    assert.equal(tools.find((t) => t.name === 'memory_search').inputSchema.required[0], 'query');
    const w = await ada.callTool({ name: 'memory_write', arguments: { text: 'Ada prefers tea over coffee', kind: 'preference' } });
    assert.equal(w.isError, false, JSON.stringify(w));
    assert.equal(w.structuredContent.status, 'remembered');
    const s = await ada.callTool({ name: 'memory_search', arguments: { query: 'tea' } });
    assert.equal(s.isError, false);
    assert.ok(s.structuredContent.results.some((r) => r.text.includes('tea')), JSON.stringify(s));
    // The record is ada's, as the REST API sees it.
    const rec = await server.json('/v1/memories?user_id=ada');
    assert.ok(rec.body.data.some((r) => r.text.includes('tea')));
    // Bob, through the same server, finds nothing of ada's.
    const bob = await connect(server, { authorization: `Bearer ${KEY}`, 'x-continuum-user': 'bob' });
    const sb = await bob.callTool({ name: 'memory_search', arguments: { query: 'tea' } });
    assert.deepEqual(sb.structuredContent.results, []);
    // Bad arguments are tool errors; unknown tools are JSON-RPC errors.
    const bad = await ada.callTool({ name: 'memory_search', arguments: { query: '' } });
    assert.equal(bad.isError, true);
    await assert.rejects(() => ada.callTool({ name: 'nope', arguments: {} }), /Unknown tool/);
    await ada.close();
    await bob.close();
  });
});

test('mcp server: credentials and scopes are enforced; malformed messages get JSON-RPC errors', async () => {
  await withServer({}, async ({ server }) => {
    const post = (body, headers = {}) => fetch(`${server.base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body });
    assert.equal((await post('{"jsonrpc":"2.0","id":1,"method":"tools/list"}')).status, 401);
    const auth = { authorization: `Bearer ${KEY}`, 'x-continuum-user': 'ada' };
    const parse = await post('{nope', auth);
    assert.equal(parse.status, 400);
    assert.equal((await parse.json()).error.code, -32700);
    assert.equal((await (await post('{"jsonrpc":"2.0","id":2,"method":"nope"}', auth)).json()).error.code, -32601);
    assert.equal((await post('{"jsonrpc":"2.0","method":"notifications/initialized"}', auth)).status, 202);
    assert.equal((await fetch(`${server.base}/mcp`, { headers: auth })).status, 405);
    // A key with memory:read only sees and may call only memory_search.
    const ro = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'ro', scopes: ['memory:read'], act_as_user: true }) })).body.value;
    const client = await connect(server, { authorization: `Bearer ${ro}`, 'x-continuum-user': 'ada' });
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name), ['memory_search']);
    const w = await client.callTool({ name: 'memory_write', arguments: { text: 'x' } });
    assert.equal(w.isError, true);
    assert.match(w.content[0].text, /memory:write/);
    await client.close();
    // A key without memory scopes is refused outright.
    const none = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'r', scopes: ['responses'] }) })).body.value;
    assert.equal((await post('{"jsonrpc":"2.0","id":3,"method":"tools/list"}', { authorization: `Bearer ${none}` })).status, 403);
  });
});

test('mcp server: run_agent runs a turn as one of the project\'s agents, for the caller', async () => {
  await withServer({}, async ({ server, upstream }) => {
    // No agents yet: no run_agent tool.
    const first = await connect(server, { authorization: `Bearer ${KEY}` });
    assert.ok(!(await first.listTools()).tools.some((t) => t.name === 'run_agent'));
    await first.close();
    const made = await server.json('/v1/agents', { method: 'POST', body: JSON.stringify({
      name: 'helper', model: 'm-helper', instructions: 'You are the helper.', description: 'Answers internal questions.' }) });
    assert.equal(made.status, 200);
    const ada = await connect(server, { authorization: `Bearer ${KEY}`, 'x-continuum-user': 'ada' });
    const tool = (await ada.listTools()).tools.find((t) => t.name === 'run_agent');
    assert.ok(tool, 'run_agent is offered once an agent exists');
    assert.deepEqual(tool.inputSchema.properties.agent.enum, ['helper']);
    assert.match(tool.description, /helper: Answers internal questions/);
    const r = await ada.callTool({ name: 'run_agent', arguments: { agent: 'helper', input: 'what is our vpn?' } });
    assert.equal(r.isError, false, JSON.stringify(r));
    assert.equal(r.content[0].text, 'echo: what is our vpn?');
    assert.equal(r.structuredContent.agent.name, 'helper');
    // The last model call (memory extraction may run for ada in the background: skip it).
    const lastTurn = () => [...upstream.requests].reverse().find((q) => !q.embeddings && !q.body.response_format);
    const req = lastTurn();
    assert.equal(req.body.model, 'm-helper');
    assert.ok(req.body.messages.some((m) => m.role !== 'user' && String(m.content).includes('You are the helper.')));
    // The turn is ada's: stored as her response, continued by id.
    const stored = await server.json(`/v1/responses/${r.structuredContent.response_id}?user_id=ada`);
    assert.equal(stored.status, 200);
    const bobView = await server.json(`/v1/responses/${r.structuredContent.response_id}?user_id=bob`);
    assert.equal(bobView.status, 404, "bob does not see ada's agent turn");
    const next = await ada.callTool({ name: 'run_agent', arguments: { agent: 'helper', input: 'and then?', previous_response_id: r.structuredContent.response_id } });
    assert.equal(next.isError, false);
    assert.ok(lastTurn().body.messages.some((m) => String(m.content).includes('what is our vpn?')), 'the chain is continued');
    // Unknown agents and missing arguments are tool errors.
    const unknown = await ada.callTool({ name: 'run_agent', arguments: { agent: 'nobody', input: 'x' } });
    assert.equal(unknown.isError, true);
    assert.match(unknown.content[0].text, /No agent named 'nobody'/);
    assert.equal((await ada.callTool({ name: 'run_agent', arguments: { agent: 'helper' } })).isError, true);
    await ada.close();
    // A key without the responses scope is not offered run_agent.
    const memOnly = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'm', scopes: ['memory:read'] }) })).body.value;
    const m = await connect(server, { authorization: `Bearer ${memOnly}` });
    assert.ok(!(await m.listTools()).tools.some((t) => t.name === 'run_agent'));
    await assert.rejects(() => m.callTool({ name: 'run_agent', arguments: { agent: 'helper', input: 'x' } }), /Unknown tool/);
    await m.close();
  });
});
