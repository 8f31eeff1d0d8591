// Streaming: the exact event sequence, the SDK's stream helper, function-call argument deltas,
// and resuming a stream with starting_after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, parseSSE, sleep } from './harness.mjs';

test('raw stream: event order, sequence numbers, deltas add up', async () => {
  await withServer({}, async ({ server }) => {
    const r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'stream me', stream: true }) });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /text\/event-stream/);
    const events = parseSSE(await r.text());
    const types = events.map((e) => e.data.type);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed']);
    events.forEach((e, i) => { assert.equal(e.data.sequence_number, i); assert.equal(e.event, e.data.type); });
    const deltas = events.filter((e) => e.data.type === 'response.output_text.delta').map((e) => e.data.delta).join('');
    assert.equal(deltas, 'echo: stream me');
    const done = events.find((e) => e.data.type === 'response.output_text.done').data;
    assert.equal(done.text, deltas);
    const completed = events.at(-1).data.response;
    assert.equal(completed.status, 'completed');
    assert.equal(completed.output[0].content[0].text, deltas);
    assert.equal(events[0].data.response.status, 'in_progress');
    assert.deepEqual(events[0].data.response.output, []);
    // The streamed response is stored.
    const got = await server.json(`/v1/responses/${completed.id}`);
    assert.equal(got.body.output[0].content[0].text, deltas);
  });
});

test('SDK stream helper: finalResponse and text deltas', async () => {
  await withServer({}, async ({ client }) => {
    const stream = client.responses.stream({ model: 'm', input: 'helper' });
    let text = '';
    stream.on('response.output_text.delta', (e) => (text += e.delta));
    const final = await stream.finalResponse();
    assert.equal(final.output_text, 'echo: helper');
    assert.equal(text, 'echo: helper');
    // create({stream:true}) iterates the same events.
    const s2 = await client.responses.create({ model: 'm', input: 'iter', stream: true });
    const seen = [];
    for await (const ev of s2) seen.push(ev.type);
    assert.equal(seen[0], 'response.created');
    assert.equal(seen.at(-1), 'response.completed');
  });
});

test('streamed function calls: argument deltas and done events', async () => {
  await withServer({}, async ({ client }) => {
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const stream = client.responses.stream({ model: 'm', input: 'CALL_TOOL now', tools });
    const argDeltas = [];
    stream.on('response.function_call_arguments.delta', (e) => argDeltas.push(e.delta));
    const final = await stream.finalResponse();
    assert.equal(final.output.length, 1);
    const call = final.output[0];
    assert.equal(call.type, 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.equal(call.call_id, 'call_1');
    assert.equal(call.arguments, '{"city":"Paris"}');
    assert.equal(argDeltas.join(''), call.arguments);
    assert.equal(final.status, 'completed');
  });
});

test('reasoning deltas become a reasoning item before the message', async () => {
  await withServer({}, async ({ client }) => {
    const final = await client.responses.stream({ model: 'm', input: 'REASON a bit' }).finalResponse();
    assert.equal(final.output[0].type, 'reasoning');
    assert.equal(final.output[0].content[0].text, 'thinking...');
    assert.equal(final.output[1].type, 'message');
    assert.equal(final.output_text, 'echo: REASON a bit');
  });
});

test('a dropped stream goes on; retrieve with stream=true resumes after N', async () => {
  await withServer({}, async ({ server, client }) => {
    const ctl = new AbortController();
    const r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'SLOW one', stream: true }), signal: ctl.signal });
    const reader = r.body.getReader();
    let buf = '';
    while (!buf.includes('response.output_text.delta')) buf += new TextDecoder().decode((await reader.read()).value);
    const id = parseSSE(buf.slice(0, buf.lastIndexOf('\n\n') + 2))[0].data.response.id;
    ctl.abort();
    // Resume from sequence number 2 while it is still running.
    const resumed = await server.fetch(`/v1/responses/${id}?stream=true&starting_after=2`, { method: 'GET' });
    const body = await resumed.text().catch((e) => { console.log(server.log); throw e; });
    const events = parseSSE(body);
    assert.equal(events[0].data.sequence_number, 3);
    assert.equal(events.at(-1).data.type, 'response.completed');
    const text = events.filter((e) => e.data.type === 'response.output_text.delta').map((e) => e.data.delta).join('');
    assert.ok(text.endsWith('w19 '));
    const final = await client.responses.retrieve(id);
    assert.equal(final.status, 'completed');
    assert.equal(final.output_text.split(' ').filter(Boolean).length, 20);
  });
});

test('a finished response without a kept event log can still be streamed (rebuilt)', async () => {
  await withServer({}, async ({ client, server }) => {
    const tools = [{ type: 'function', name: 'f', parameters: { type: 'object', properties: {} } }];
    const plain = await client.responses.create({ model: 'm', input: 'plain one' });
    const stream = client.responses.stream({ response_id: plain.id });
    const types = [];
    stream.on('event', (e) => types.push(e.type));
    const final = await stream.finalResponse();
    assert.equal(final.output_text, 'echo: plain one');
    assert.deepEqual(types.slice(0, 2), ['response.created', 'response.in_progress']);
    assert.equal(types.at(-1), 'response.completed');
    const call = await client.responses.create({ model: 'm', input: 'CALL_TOOL', tools });
    const f2 = await client.responses.stream({ response_id: call.id }).finalResponse();
    assert.equal(f2.output[0].arguments, '{"city":"Paris"}');
    // starting_after filters the rebuilt stream as well.
    const r = await server.fetch(`/v1/responses/${plain.id}?stream=true&starting_after=3`, { method: 'GET' });
    const events = parseSSE(await r.text());
    assert.equal(events[0].data.sequence_number, 4);
  });
});
