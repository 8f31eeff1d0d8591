// The Responses API's `mcp` tool: a real MCP server (official SDK) that the run lists and calls
// itself, through the official openai SDK; approvals; secrets; errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, sleep } from './harness.mjs';
import { startMcpServer } from './mcp-fixture.mjs';

const ENV = { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' };

async function withMcp(opts, fn) {
  const mcp = await startMcpServer(opts);
  try {
    await withServer({ env: ENV }, (ctx) => fn({ ...ctx, mcp }));
  } finally {
    await mcp.close();
  }
}

const tool = (mcp, extra = {}) => ({ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never', ...extra });

test('mcp: the run lists the server, calls the tool the model chose and answers with its output', async () => {
  await withMcp({}, async ({ client, upstream, mcp }) => {
    const r = await client.responses.create({ model: 'm', input: 'MCP_CALL add {"a":2,"b":3}', tools: [tool(mcp)] });
    assert.equal(r.status, 'completed');
    const types = r.output.map((o) => o.type);
    assert.deepEqual(types, ['mcp_list_tools', 'mcp_call', 'message']);
    const list = r.output[0];
    assert.equal(list.server_label, 'fx');
    const names = list.tools.map((t) => t.name).sort();
    assert.ok(names.includes('add') && names.includes('echo') && names.includes('charge'));
    assert.deepEqual(list.tools.find((t) => t.name === 'add').input_schema.required.sort(), ['a', 'b']);
    const call = r.output[1];
    assert.equal(call.name, 'add');
    assert.equal(call.server_label, 'fx');
    assert.equal(call.arguments, '{"a":2,"b":3}');
    assert.deepEqual(JSON.parse(call.output), { sum: 5 }, 'structured content is passed back as JSON');
    assert.equal(call.error, null);
    assert.match(r.output_text, /tool said: \{"sum":5\}/);
    // What the MCP server received, and what the model was sent back.
    assert.deepEqual(mcp.calls.map((c) => [c.name, c.args]), [['add', { a: 2, b: 3 }]]);
    const first = upstream.requests.filter((q) => !q.embeddings)[0].body;
    assert.ok(first.tools.some((t) => t.function.name === 'add'), 'the server tools are offered to the model');
    const second = upstream.last().body;
    const toolMsg = second.messages[second.messages.length - 1];
    assert.equal(toolMsg.role, 'tool');
    assert.equal(toolMsg.content, '{"sum":5}');
    // Stored: retrieve gives the same items, and the tool's secrets are not echoed.
    const again = await client.responses.retrieve(r.id);
    assert.deepEqual(again.output.map((o) => o.type), types);
    assert.equal(again.tools[0].type, 'mcp');
  });
});

test('mcp: streamed events parse in the official SDK (list_tools, call arguments, call progress)', async () => {
  await withMcp({}, async ({ client, mcp }) => {
    const stream = await client.responses.create({ model: 'm', input: 'MCP_CALL echo {"text":"hi"}', tools: [tool(mcp)], stream: true });
    const seen = [];
    let final;
    for await (const ev of stream) {
      seen.push(ev.type);
      if (ev.type === 'response.completed') final = ev.response;
    }
    for (const t of ['response.mcp_list_tools.in_progress', 'response.mcp_list_tools.completed', 'response.mcp_call_arguments.delta',
      'response.mcp_call_arguments.done', 'response.mcp_call.in_progress', 'response.mcp_call.completed'])
      assert.ok(seen.includes(t), `missing ${t} in ${seen.join(',')}`);
    assert.ok(seen.indexOf('response.mcp_call.in_progress') < seen.indexOf('response.mcp_call.completed'));
    assert.equal(final.output.find((o) => o.type === 'mcp_call').output, 'echo:hi');
  });
});

test('mcp: a listing in the chain is reused; allowed_tools filters what the model sees', async () => {
  await withMcp({}, async ({ client, upstream, mcp }) => {
    const r1 = await client.responses.create({ model: 'm', input: 'hello', tools: [tool(mcp, { allowed_tools: ['echo'] })] });
    assert.deepEqual(r1.output[0].tools.map((t) => t.name), ['echo']);
    const r2 = await client.responses.create({ model: 'm', input: 'MCP_CALL add {"a":1,"b":1}', previous_response_id: r1.id,
      tools: [tool(mcp, { allowed_tools: { tool_names: ['echo'] } })] });
    assert.ok(!r2.output.some((o) => o.type === 'mcp_list_tools'), 'no second listing in the same chain');
    assert.ok(!r2.output.some((o) => o.type === 'mcp_call'), 'add is not allowed, so it is never offered');
    assert.deepEqual(upstream.last().body.tools.map((t) => t.function.name), ['echo']);
    assert.equal(mcp.calls.length, 0);
    const r3 = await client.responses.create({ model: 'm', input: 'MCP_CALL echo {"text":"x"}', tools: [tool(mcp, { allowed_tools: { read_only: true } })] });
    assert.deepEqual(r3.output[0].tools.map((t) => t.name).sort(), ['add', 'echo', 'slow_read']);
  });
});

test('mcp: approvals (default "always"): the call waits for the human; approve runs it, decline does not', async () => {
  await withMcp({}, async ({ client, mcp, server }) => {
    const t = { type: 'mcp', server_label: 'fx', server_url: mcp.url };
    const r1 = await client.responses.create({ model: 'm', input: 'MCP_CALL charge {"amount":5}', tools: [t] });
    assert.equal(r1.status, 'completed');
    const req = r1.output.find((o) => o.type === 'mcp_approval_request');
    assert.ok(req, JSON.stringify(r1.output));
    assert.equal(req.name, 'charge');
    assert.equal(req.arguments, '{"amount":5}');
    assert.equal(mcp.calls.length, 0, 'nothing runs before approval');
    const r2 = await client.responses.create({ model: 'm', previous_response_id: r1.id, tools: [t],
      input: [{ type: 'mcp_approval_response', approval_request_id: req.id, approve: true }] });
    const call = r2.output.find((o) => o.type === 'mcp_call');
    assert.equal(call.approval_request_id, req.id);
    assert.equal(call.output, 'charged 5');
    assert.deepEqual(mcp.calls.map((c) => c.name), ['charge']);
    assert.match(r2.output_text, /tool said: charged 5/);
    // Answering it again is refused.
    const again = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', previous_response_id: r2.id, tools: [t],
      input: [{ type: 'mcp_approval_response', approval_request_id: req.id, approve: true }] }) });
    assert.equal(again.status, 400);
    assert.match(again.body.error.message, /already answered/);
    // Decline.
    const r3 = await client.responses.create({ model: 'm', input: 'MCP_CALL charge {"amount":7}', tools: [t] });
    const req3 = r3.output.find((o) => o.type === 'mcp_approval_request');
    const r4 = await client.responses.create({ model: 'm', previous_response_id: r3.id, tools: [t],
      input: [{ type: 'mcp_approval_response', approval_request_id: req3.id, approve: false, reason: 'too much' }] });
    const declined = r4.output.find((o) => o.type === 'mcp_call');
    assert.equal(declined.status, 'failed');
    assert.match(declined.error, /declined.*too much/);
    assert.equal(mcp.calls.length, 1, 'the declined call never reached the server');
    // Unknown approval ids are a 400 naming the field.
    const bad = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', previous_response_id: r4.id, tools: [t],
      input: [{ type: 'mcp_approval_response', approval_request_id: 'mcpr_nope', approve: true }] }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'input[0].approval_request_id');
  });
});

test('mcp: approvals in a conversation; require_approval by tool name', async () => {
  await withMcp({}, async ({ client, mcp }) => {
    const conv = await client.conversations.create({});
    const t = { type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: { never: { tool_names: ['echo'] } } };
    const r1 = await client.responses.create({ model: 'm', conversation: conv.id, input: 'MCP_CALL echo {"text":"free"}', tools: [t] });
    assert.equal(r1.output.find((o) => o.type === 'mcp_call').output, 'echo:free');
    const r2 = await client.responses.create({ model: 'm', conversation: conv.id, input: 'MCP_CALL charge {"amount":1}', tools: [t] });
    const req = r2.output.find((o) => o.type === 'mcp_approval_request');
    assert.ok(req);
    assert.ok(!r2.output.some((o) => o.type === 'mcp_list_tools'), 'the conversation keeps its listing');
    const r3 = await client.responses.create({ model: 'm', conversation: conv.id, tools: [t],
      input: [{ type: 'mcp_approval_response', approval_request_id: req.id, approve: true }] });
    assert.equal(r3.output.find((o) => o.type === 'mcp_call').output, 'charged 1');
    const items = await client.conversations.items.list(conv.id, { limit: 50 });
    const types = items.data.map((i) => i.type);
    for (const ty of ['mcp_list_tools', 'mcp_call', 'mcp_approval_request', 'mcp_approval_response']) assert.ok(types.includes(ty), ty);
  });
});

test('mcp: a failing tool is a failed call the model is told about; parallel calls all run', async () => {
  await withMcp({}, async ({ client, upstream, mcp }) => {
    const r = await client.responses.create({ model: 'm', input: 'MCP_CALL fail {}', tools: [tool(mcp)] });
    assert.equal(r.status, 'completed');
    const call = r.output.find((o) => o.type === 'mcp_call');
    assert.equal(call.status, 'failed');
    assert.match(call.error, /failed on purpose/);
    assert.equal(call.output, null);
    assert.match(upstream.last().body.messages.at(-1).content, /failed on purpose/);
    const p = await client.responses.create({ model: 'm', input: 'MCP_CALL echo {"text":"a"} MCP_CALL add {"a":1,"b":2}', tools: [tool(mcp)] });
    const outs = p.output.filter((o) => o.type === 'mcp_call').map((o) => o.output).sort();
    assert.deepEqual(outs, ['echo:a', '{"sum":3}']);
  });
});

test('mcp: stateless servers with JSON answers work too', async () => {
  await withMcp({ stateless: true }, async ({ client, mcp }) => {
    const r = await client.responses.create({ model: 'm', input: 'MCP_CALL add {"a":20,"b":22}', tools: [tool(mcp)] });
    assert.deepEqual(JSON.parse(r.output.find((o) => o.type === 'mcp_call').output), { sum: 42 });
  });
});

test('mcp: the authorization token reaches the MCP server and never the model, a response or the log', async () => {
  const SECRET = 'tok_planted_secret_4242';
  await withMcp({ requireToken: SECRET }, async ({ client, upstream, mcp, server }) => {
    const r = await client.responses.create({ model: 'm', input: 'MCP_CALL echo {"text":"s"}',
      tools: [tool(mcp, { authorization: SECRET, headers: { 'X-Extra': 'hdr_secret_77' } })], stream: false });
    assert.equal(r.output.find((o) => o.type === 'mcp_call').output, 'echo:s');
    assert.equal(mcp.calls[0].headers.authorization, `Bearer ${SECRET}`);
    assert.equal(mcp.calls[0].headers['x-extra'], 'hdr_secret_77');
    const stored = await server.json(`/v1/responses/${r.id}`);
    for (const text of [JSON.stringify(r), JSON.stringify(stored.body), JSON.stringify(upstream.requests), server.log]) {
      assert.ok(!text.includes(SECRET), 'token leaked');
      assert.ok(!text.includes('hdr_secret_77'), 'header leaked');
    }
    // A wrong token: the listing fails, recorded on its item; the turn still answers.
    const bad = await client.responses.create({ model: 'm', input: 'hi', tools: [tool(mcp, { authorization: 'wrong', server_label: 'fx2' })] });
    assert.equal(bad.status, 'completed');
    assert.match(bad.output[0].error, /refused the credentials/);
  });
});

test('mcp: invalid tool entries are 400s naming the field; private URLs are refused by default', async () => {
  await withMcp({}, async ({ server, mcp }) => {
    const post = (t) => server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x', tools: [t] }) });
    const cases = [
      [{ type: 'mcp', server_url: mcp.url }, 'tools.server_label'],
      [{ type: 'mcp', server_label: 'a b', server_url: mcp.url }, 'tools.server_label'],
      [{ type: 'mcp', server_label: 'fx', server_url: 'ftp://x' }, 'tools.server_url'],
      [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'sometimes' }, 'tools.require_approval'],
      [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, allowed_tools: 'echo' }, 'tools.allowed_tools'],
      [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, headers: { a: 1 } }, 'tools.headers.a'],
      [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, bogus: 1 }, 'tools.bogus'],
    ];
    for (const [t, param] of cases) {
      const r = await post(t);
      assert.equal(r.status, 400, JSON.stringify(t));
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    assert.equal((await server.json('/healthz')).status, 200);
  });
  await withServer({}, async ({ server }) => {
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x',
      tools: [{ type: 'mcp', server_label: 'fx', server_url: 'http://127.0.0.1:9/mcp' }] }) });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /private and loopback/);
  });
});

test('mcp: an answer stream the server closes early is resumed with Last-Event-ID', async () => {
  await withMcp({ resumable: true }, async ({ client, mcp }) => {
    const r = await client.responses.create({ model: 'm', input: 'MCP_CALL poll {"ms":300}', tools: [tool(mcp)] });
    const call = r.output.find((o) => o.type === 'mcp_call');
    assert.equal(call.output, 'polled after 300', JSON.stringify(call));
    assert.equal(call.error, null);
    assert.ok(mcp.stats.resumes >= 1, `resumed ${mcp.stats.resumes} times`);
    assert.equal(mcp.calls.filter((c) => c.name === 'poll').length, 1, 'the call itself was not repeated');
  });
});

test('mcp: list_changed sent on the standing GET stream drops the cached listing', async () => {
  await withMcp({}, async ({ server, mcp }) => {
    const ask = () => server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'hi', tools: [tool(mcp)] }) });
    const first = await ask();
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.ok(!first.body.output[0].tools.some((t) => t.name === 'late'));
    // The session opened its standing stream after initializing.
    for (let i = 0; i < 100 && !mcp.stats.streams; i++) await sleep(20);
    assert.equal(mcp.stats.streams, 1, 'one standing GET stream');
    const lists = mcp.stats.lists;
    const cached = await ask();
    assert.equal(mcp.stats.lists, lists, 'a fresh turn uses the cached listing');
    // No request is in flight: the notification can only travel on the standing stream.
    mcp.addTool('late');
    let again;
    for (let i = 0; i < 50; i++) {
      await sleep(20);
      again = await ask();
      if (again.body.output[0].tools.some((t) => t.name === 'late')) break;
    }
    assert.ok(again.body.output[0].tools.some((t) => t.name === 'late'), JSON.stringify(again.body.output[0]));
    assert.ok(mcp.stats.lists > lists);
    assert.ok(cached.body.output[0].tools.length > 0);
  });
});

test('mcp: a stateless server (no session, so no standing stream) is served turn after turn', async () => {
  await withMcp({ stateless: true }, async ({ server, mcp }) => {
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'MCP_CALL echo {"text":"s"}', tools: [tool(mcp)] }) });
    assert.equal(r.body.output.find((o) => o.type === 'mcp_call')?.output, 'echo:s');
    await sleep(100);
    const again = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'MCP_CALL echo {"text":"t"}', tools: [tool(mcp)] }) });
    assert.equal(again.body.output.find((o) => o.type === 'mcp_call')?.output, 'echo:t');
  });
});
