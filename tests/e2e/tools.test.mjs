// Function tools: the model's calls become function_call items; outputs come back as
// function_call_output items with previous_response_id; several calls in one turn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';

const tools = [
  { type: 'function', name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: {} } },
];

test('function-calling round trip', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const first = await client.responses.create({ model: 'm', input: 'CALL_TOOL weather in Paris?', tools });
    assert.equal(first.output[0].type, 'function_call');
    assert.match(first.output[0].id, /^fc_/);
    assert.equal(first.tools.length, 2);
    assert.deepEqual(upstream.last().body.tools[0], { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: tools[0].parameters, strict: true } });
    const call = first.output[0];
    const second = await client.responses.create({
      model: 'm', previous_response_id: first.id, tools,
      input: [{ type: 'function_call_output', call_id: call.call_id, output: '{"temp":18}' }],
    });
    assert.equal(second.output_text, 'tool said: {"temp":18}');
    const msgs = upstream.last().body.messages;
    assert.deepEqual(msgs.at(-2), { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] });
    assert.deepEqual(msgs.at(-1), { role: 'tool', tool_call_id: 'call_1', content: '{"temp":18}' });
  });
});

test('parallel calls in one turn, both outputs returned', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const first = await client.responses.create({ model: 'm', input: 'CALL_TWO things', tools });
    assert.equal(first.output.length, 2);
    assert.deepEqual(first.output.map((o) => o.call_id), ['call_a', 'call_b']);
    assert.deepEqual(first.output.map((o) => o.arguments), ['{"n":1}', '{"n":2}']);
    await client.responses.create({
      model: 'm', previous_response_id: first.id, tools,
      input: first.output.map((c) => ({ type: 'function_call_output', call_id: c.call_id, output: `out-${c.call_id}` })),
    });
    const msgs = upstream.last().body.messages;
    assert.equal(msgs.at(-3).tool_calls.length, 2);
    assert.deepEqual(msgs.slice(-2).map((m) => [m.role, m.tool_call_id]), [['tool', 'call_a'], ['tool', 'call_b']]);
  });
});

test('without previous_response_id the client resends the call and its output', async () => {
  await withServer({}, async ({ client, upstream }) => {
    await client.responses.create({
      model: 'm', tools,
      input: [
        { role: 'user', content: 'weather?' },
        { type: 'function_call', call_id: 'call_x', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { type: 'function_call_output', call_id: 'call_x', output: 'cold' },
      ],
    });
    const msgs = upstream.last().body.messages;
    assert.equal(msgs[1].tool_calls[0].id, 'call_x');
    assert.deepEqual(msgs[2], { role: 'tool', tool_call_id: 'call_x', content: 'cold' });
  });
});

test('tool_choice maps to the upstream shape', async () => {
  await withServer({}, async ({ client, upstream }) => {
    await client.responses.create({ model: 'm', input: 'x', tools, tool_choice: { type: 'function', name: 'get_time' }, parallel_tool_calls: false });
    assert.deepEqual(upstream.last().body.tool_choice, { type: 'function', function: { name: 'get_time' } });
    assert.equal(upstream.last().body.parallel_tool_calls, false);
    await client.responses.create({ model: 'm', input: 'x', tools, tool_choice: 'required' });
    assert.equal(upstream.last().body.tool_choice, 'required');
  });
});
