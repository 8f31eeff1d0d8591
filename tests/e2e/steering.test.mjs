// Steering a running response: over the official SDK's ResponsesWS (response.steer) and over
// HTTP (POST /v1/responses/{id}/steer). Covers a running text response (it completes, then a
// successor runs the input), the safe boundary after a server-side tool call (incomplete,
// reason "steered"), a response that stops for a client tool (response.steer.pending, the input
// prepended to the continuation), a conversation, refusals with their codes, a lane cut alone
// when its events are not read, and kill -9 right after the acknowledgement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { collector, rawSocket } from './sockets.mjs';
import { Server, withServer, KEY, sleep, parseSSE } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';
import { startMcpServer } from './mcp-fixture.mjs';

const chatRequests = (upstream) => upstream.requests.filter((q) => !q.embeddings && q.body?.messages);
const userTexts = (body) => body.messages.filter((m) => m.role === 'user').map((m) => (typeof m.content === 'string' ? m.content : m.content.map((p) => p.text).join('')));

test('ResponsesWS: steering a running response: accepted, the response ends, a successor runs the input on the same lane', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const rws = new ResponsesWS(client);
    const c = collector((f) => rws.on('event', f));
    rws.send({ type: 'response.create', model: 'gpt-4o', input: 'SLOW story', stream_id: 'main' });
    const created = await c.until((e) => e.type === 'response.created');
    await c.until((e) => e.type === 'response.output_text.delta');
    rws.send({ type: 'response.steer', previous_response_id: created.response.id, input: 'also mention cats' });
    const accepted = await c.until((e) => e.type === 'response.steer.accepted');
    assert.match(accepted.steer.id, /^steer_/);
    assert.equal(accepted.steer.previous_response_id, created.response.id);
    assert.equal(accepted.stream_id, 'main');
    // The text answer has no safe boundary before its end: it completes, then the successor.
    const first = await c.until((e) => e.type === 'response.completed' && e.response.id === created.response.id);
    const succ = await c.until((e) => e.type === 'response.created' && e.response.id !== created.response.id);
    assert.equal(succ.response.previous_response_id, created.response.id);
    assert.equal(succ.stream_id, 'main');
    const done = await c.until((e) => e.type === 'response.completed' && e.response.id === succ.response.id);
    assert.equal(done.response.output_text ?? done.response.output[0].content[0].text, 'echo: also mention cats');
    assert.equal(done.response.model, first.response.model, 'the successor inherits the settings');
    // The model saw the whole chain and then the steering input.
    assert.deepEqual(userTexts(upstream.last().body), ['SLOW story', 'also mention cats']);
    // Over HTTP: the submission is committed to the successor.
    const s = await client.get(`/responses/${created.response.id}/steers/${accepted.steer.id}`);
    assert.equal(s.status, 'committed');
    assert.equal(s.successor_response_id, succ.response.id);
    assert.deepEqual(s.input.map((m) => m.role), ['user']);
    rws.close();
  });
});

test('steering stops a tool loop at its safe boundary: incomplete with reason "steered", the successor sees the tool result', async () => {
  const mcp = await startMcpServer({});
  try {
    await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, upstream }) => {
      const s = await rawSocket(server);
      const tools = [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never' }];
      s.send({ type: 'response.create', model: 'gpt-4o', input: 'MCP_CALL slow_read {"ms":1500}', tools });
      const created = await s.until((e) => e.type === 'response.created');
      await s.until((e) => e.type === 'response.mcp_call.in_progress');
      s.send({ type: 'response.steer', previous_response_id: created.response.id, input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'stop reading; summarize' }] }] });
      await s.until((e) => e.type === 'response.steer.accepted');
      const ended = await s.until((e) => e.type === 'response.incomplete');
      assert.equal(ended.response.incomplete_details.reason, 'steered');
      assert.deepEqual(ended.response.output.map((o) => o.type), ['mcp_list_tools', 'mcp_call']);
      const modelCallsOfFirst = chatRequests(upstream).length;
      const done = await s.until((e) => e.type === 'response.completed');
      assert.equal(done.response.previous_response_id, created.response.id);
      assert.equal(chatRequests(upstream).length, modelCallsOfFirst + 1, 'the steered response made no second model call');
      const last = upstream.last().body;
      assert.ok(last.messages.some((m) => m.role === 'tool'), 'the successor sees the tool result');
      assert.equal(userTexts(last).at(-1), 'stop reading; summarize');
      // Stored as such.
      const stored = await server.json(`/v1/responses/${created.response.id}`);
      assert.equal(stored.body.status, 'incomplete');
      assert.equal(stored.body.incomplete_details.reason, 'steered');
      s.ws.close();
    });
  } finally {
    await mcp.close();
  }
});

test('a response that stops for a client tool keeps the input queued: steer.pending, then prepended to the continuation', async () => {
  await withServer({}, async ({ server, upstream }) => {
    const s = await rawSocket(server);
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'SLOW_CALL weather please', tools, stream_id: 'w' });
    const created = await s.until((e) => e.type === 'response.created');
    s.send({ type: 'response.steer', previous_response_id: created.response.id, input: 'and in Celsius' });
    const accepted = await s.until((e) => e.type === 'response.steer.accepted');
    const completed = await s.until((e) => e.type === 'response.completed');
    assert.equal(completed.response.output[0].type, 'function_call');
    const pending = await s.until((e) => e.type === 'response.steer.pending');
    assert.equal(pending.reason, 'waiting_for_required_input');
    assert.deepEqual(pending.required_input, [{ type: 'function_call_output', call_id: 'call_slow', name: 'get_weather' }]);
    assert.equal(pending.steer.id, accepted.steer.id);
    assert.equal(pending.stream_id, 'w');
    assert.ok(s.events.indexOf(pending) > s.events.indexOf(completed), 'pending follows response.completed');
    // No automatic successor: the client answers the tool; the queued input goes first.
    s.send({ type: 'response.create', model: 'gpt-4o', previous_response_id: created.response.id, tools, stream_id: 'w',
             input: [{ type: 'function_call_output', call_id: 'call_slow', output: '21C' }] });
    const next = await s.until((e) => e.type === 'response.completed' && e.response.id !== created.response.id);
    const body = upstream.last().body;
    assert.deepEqual(body.messages.slice(-3).map((m) => m.role), ['assistant', 'tool', 'user']);
    assert.equal(userTexts(body).at(-1), 'and in Celsius');
    const items = await server.json(`/v1/responses/${next.response.id}/input_items?order=asc`);
    assert.deepEqual(items.body.data.slice(-2).map((i) => i.type), ['message', 'function_call_output']);
    assert.equal(items.body.data.at(-2).content[0].text, 'and in Celsius');
    const st = await server.json(`/v1/responses/${created.response.id}/steers/${accepted.steer.id}`);
    assert.equal(st.body.status, 'committed');
    assert.equal(st.body.successor_response_id, next.response.id);
    s.ws.close();
  });
});

test('steering a response bound to a conversation: the successor appends to the conversation', async () => {
  await withServer({}, async ({ server, client }) => {
    const conv = await client.conversations.create({});
    const s = await rawSocket(server);
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'SLOW tale', conversation: conv.id });
    const created = await s.until((e) => e.type === 'response.created');
    s.send({ type: 'response.steer', previous_response_id: created.response.id, input: 'shorter please' });
    await s.until((e) => e.type === 'response.steer.accepted');
    const succ = await s.until((e) => e.type === 'response.completed' && e.response.id !== created.response.id);
    assert.equal(succ.response.conversation.id, conv.id);
    const items = await client.conversations.items.list(conv.id, { order: 'asc' });
    const texts = items.data.map((i) => i.content?.[0]?.text);
    assert.equal(texts[0], 'SLOW tale');
    assert.equal(texts[2], 'shorter please');
    assert.equal(texts[3], 'echo: shorter please');
    s.ws.close();
  });
});

test('refusals: response.steer.failed with the documented codes; the socket stays usable', async () => {
  await withServer({}, async ({ server, client }) => {
    const s = await rawSocket(server);
    // Finished, unknown, not on this connection, bad input, bad fields.
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'quick' });
    const done = await s.until((e) => e.type === 'response.completed');
    const other = await client.responses.create({ model: 'gpt-4o', input: 'elsewhere' });
    const fail = async (ev, code) => {
      const before = s.events.length;
      s.send(ev);
      const f = await s.until((e, i = s.events.indexOf(e)) => e.type === 'response.steer.failed' && i >= before);
      assert.equal(f.error.code, code, JSON.stringify(f));
      assert.equal(f.error.type, 'invalid_request_error');
      assert.equal(f.steer.id, undefined);
      return f;
    };
    const f1 = await fail({ type: 'response.steer', previous_response_id: done.response.id, input: 'late' }, 'response_already_completed');
    assert.equal(f1.steer.input, 'late', 'the input is returned');
    await fail({ type: 'response.steer', previous_response_id: 'resp_nope', input: 'x' }, 'response_not_found');
    await fail({ type: 'response.steer', previous_response_id: other.id, input: 'x' }, 'response_not_found');
    await fail({ type: 'response.steer', previous_response_id: done.response.id, input: [{ role: 'assistant', content: 'x' }] }, 'invalid_input');
    await fail({ type: 'response.steer', previous_response_id: done.response.id, input: [{ type: 'function_call_output', call_id: 'c', output: 'x' }] }, 'invalid_input');
    await fail({ type: 'response.steer', previous_response_id: done.response.id, input: [] }, 'invalid_input');
    await fail({ type: 'response.steer', previous_response_id: done.response.id, input: 'x', model: 'gpt-4o' }, 'invalid_input');
    // store: false cannot be continued, so it cannot be steered.
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'SLOW unstored', store: false, stream_id: 'nostore' });
    const ns = await s.until((e) => e.type === 'response.created' && e.stream_id === 'nostore');
    await fail({ type: 'response.steer', previous_response_id: ns.response.id, input: 'x' }, 'steering_not_supported');
    // Too many pending: eight are taken, the ninth is refused.
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'SLOW many', stream_id: 'many' });
    const many = await s.until((e) => e.type === 'response.created' && e.stream_id === 'many');
    for (let i = 0; i < 8; i++) s.send({ type: 'response.steer', previous_response_id: many.response.id, input: `n${i}` });
    for (let i = 0; i < 8; i++) await s.until((e) => e.type === 'response.steer.accepted' && s.events.filter((x) => x.type === 'response.steer.accepted').length > i);
    await fail({ type: 'response.steer', previous_response_id: many.response.id, input: 'ninth' }, 'too_many_pending_steers');
    // All eight go to one successor, in order.
    const succ = await s.until((e) => e.type === 'response.completed' && e.response.previous_response_id === many.response.id, 20000);
    const inputs = await server.json(`/v1/responses/${succ.response.id}/input_items?order=asc`);
    assert.deepEqual(inputs.body.data.slice(-8).map((i) => i.content[0].text), ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7']);
    s.ws.close();
  });
});

test('HTTP steering: POST /v1/responses/{id}/steer while an SSE stream runs; errors in OpenAI shape', async () => {
  await withServer({}, async ({ server, client }) => {
    const r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: 'SLOW http', stream: true }) });
    const reader = r.body.getReader();
    let text = '';
    let id;
    while (!id) {
      const { value } = await reader.read();
      text += Buffer.from(value).toString();
      const ev = parseSSE(text).find((e) => e.data.type === 'response.created');
      if (ev) id = ev.data.response.id;
    }
    const ack = await server.json(`/v1/responses/${id}/steer`, { method: 'POST', body: JSON.stringify({ input: 'over http' }) });
    assert.equal(ack.status, 200, JSON.stringify(ack.body));
    assert.equal(ack.body.object, 'response.steer');
    assert.equal(ack.body.status, 'queued');
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    const events = parseSSE(text).map((e) => e.data.type);
    assert.ok(events.includes('response.steer.accepted'), 'the stream shows the acknowledgement');
    let st;
    for (let i = 0; i < 100; i++) {
      st = (await server.json(`/v1/responses/${id}/steers/${ack.body.id}`)).body;
      if (st.status === 'committed') break;
      await sleep(50);
    }
    assert.equal(st.status, 'committed');
    let succ;
    for (let i = 0; i < 100; i++) {
      succ = await client.responses.retrieve(st.successor_response_id).catch(() => null);
      if (succ?.status === 'completed') break;
      await sleep(50);
    }
    assert.equal(succ.previous_response_id, id);
    assert.equal(succ.output_text, 'echo: over http');
    // Errors: finished, unknown, bad body, unknown steer; another project's key sees nothing.
    const late = await server.json(`/v1/responses/${id}/steer`, { method: 'POST', body: JSON.stringify({ input: 'late' }) });
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'response_already_completed');
    const unknown = await server.json('/v1/responses/resp_nope/steer', { method: 'POST', body: JSON.stringify({ input: 'x' }) });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'response_not_found');
    const bad = await server.json(`/v1/responses/${id}/steer`, { method: 'POST', body: JSON.stringify({ input: 7 }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'invalid_input');
    const extra = await server.json(`/v1/responses/${id}/steer`, { method: 'POST', body: JSON.stringify({ input: 'x', model: 'm' }) });
    assert.equal(extra.status, 400);
    assert.equal(extra.body.error.param, 'model');
    const noSteer = await server.json(`/v1/responses/${id}/steers/steer_nope`);
    assert.equal(noSteer.status, 404);
    const otherKey = server.createKey('proj_other');
    const foreign = await server.json(`/v1/responses/${id}/steers/${ack.body.id}`, { key: otherKey });
    assert.equal(foreign.status, 404);
  });
});

test('a lane whose events are not read is cut alone, with a reason; the socket and the response go on', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  fs.writeFileSync(path.join(server.dataDir, 'ws.toml'), '[limits]\nwebsocket_max_lane_bytes = 65536\nwebsocket_max_queued_bytes = 67108864\n[models]\ndefault_context_window = 100000000\n');
  server.opts.args = ['--config', path.join(server.dataDir, 'ws.toml')];
  await server.start();
  try {
    const s = await rawSocket(server);
    // Two lanes with large answers while the client reads nothing: one lane's send writes the
    // socket (and waits on it), the other's events queue behind it until its bound cuts it.
    s.ws._socket.pause();
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'y '.repeat(1_500_000), stream_id: 'big1' });
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'z '.repeat(1_500_000), stream_id: 'big2' });
    // Both runs end (and are stored) while the client reads nothing.
    for (let i = 0; i < 300; i++) {
      const list = await server.json('/v1/responses?limit=10');
      if (list.body.data.filter((r) => r.status === 'completed').length === 2) break;
      await sleep(100);
    }
    s.ws._socket.resume();
    const cut = await s.until((e) => e.type === 'error' && e.code === 'lane_cut');
    assert.ok(['big1', 'big2'].includes(cut.stream_id));
    assert.match(cut.response_id, /^resp_/);
    assert.ok(Number.isInteger(cut.last_sequence_number));
    assert.match(cut.message, /starting_after=/);
    // The other lane is delivered whole; nothing more arrives on the cut lane; the socket serves a new lane.
    const other = cut.stream_id === 'big1' ? 'big2' : 'big1';
    await s.until((e) => e.type === 'response.completed' && e.stream_id === other, 30000);
    const after = s.events.length;
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'small', stream_id: 'next' });
    await s.until((e) => e.type === 'response.completed' && e.stream_id === 'next');
    assert.ok(!s.events.slice(s.events.indexOf(cut) + 1).some((e) => e.stream_id === cut.stream_id));
    assert.ok(after > 0);
    // What ran is stored, and its events resume from where the lane stopped.
    let stored;
    for (let i = 0; i < 100; i++) {
      stored = await server.json(`/v1/responses/${cut.response_id}`);
      if (stored.body.status === 'completed') break;
      await sleep(50);
    }
    assert.equal(stored.body.status, 'completed');
    const rest = await server.fetch(`/v1/responses/${cut.response_id}?stream=true&starting_after=${cut.last_sequence_number}`);
    const resumed = parseSSE(await rest.text());
    assert.equal(resumed[0].data.sequence_number, cut.last_sequence_number + 1);
    assert.equal(resumed.at(-1).data.type, 'response.completed');
    s.ws.close();
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('kill -9 right after response.steer.accepted: after the restart the input is returned as failed, nothing lost', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const s = await rawSocket(server);
    s.send({ type: 'response.create', model: 'gpt-4o', input: 'SLOW doomed' });
    const created = await s.until((e) => e.type === 'response.created');
    s.send({ type: 'response.steer', previous_response_id: created.response.id, input: 'keep me' });
    const accepted = await s.until((e) => e.type === 'response.steer.accepted');
    await server.kill9();
    s.ws.terminate();
    await server.start();
    const st = await server.json(`/v1/responses/${created.response.id}/steers/${accepted.steer.id}`);
    assert.equal(st.status, 200, JSON.stringify(st.body));
    assert.equal(st.body.status, 'failed');
    assert.equal(st.body.error.code, 'response_not_active');
    assert.equal(st.body.input[0].content[0].text, 'keep me');
    const r = await server.json(`/v1/responses/${created.response.id}`);
    assert.equal(r.body.status, 'failed');
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});
