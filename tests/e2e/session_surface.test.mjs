// The session surface beyond plain turns: input token counts (checked against an independent
// reference tokenizer), prepared turns (generate: false), item references, tool outputs placed
// next to their calls for a strict chat upstream, the one-base-URL pass-throughs (models,
// embeddings, chat completions) and unknown routes under /v1/responses/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEncoding } from 'js-tiktoken';
import { withServer } from './harness.mjs';

const o200k = getEncoding('o200k_base');
const cl100k = getEncoding('cl100k_base');

// A fixed corpus: scripts, numbers, code, whitespace runs, emoji, long words.
const CORPUS = [
  'hello world',
  "It's 2026: naïve café, 東京 and Zürich!  \n\n  indented",
  'def f(x):\n\treturn x ** 2  # squares\n\n\n',
  'Ünïcödé — “quotes” and emoji 🎉🚀 in a sentence.',
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  '1234567890 3.14159 0xDEADBEEF 1e-9',
  '    spaces    between    words    ',
  'Привет, как дела? مرحبا كيف حالك؟ नमस्ते',
];

// What the server should count for one user message (OpenAI's chat framing: 3 a message, its
// role and text, and 3 to prime the reply), and for instructions (a system message).
const userMessage = (enc, text) => 3 + enc.encode('user').length + enc.encode(text).length;
const systemMessage = (enc, text) => 3 + enc.encode('system').length + enc.encode(text).length;

test('input_tokens counts exactly what a turn would send, in the model\'s encoding', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    for (const text of CORPUS) {
      const r = await client.responses.inputTokens.count({ model: 'gpt-4o', input: text });
      assert.equal(r.object, 'response.input_tokens');
      assert.equal(r.input_tokens, userMessage(o200k, text) + 3, text);
      const c = await server.json('/v1/responses/input_tokens', { method: 'POST', body: JSON.stringify({ model: 'gpt-4', input: text }) });
      assert.equal(c.status, 200);
      assert.equal(c.headers.get('x-continuum-token-count-method'), 'cl100k_base');
      assert.equal(c.body.input_tokens, userMessage(cl100k, text) + 3, text);
    }
    // Instructions and a chain's history count; nothing is called upstream.
    const calls = upstream.requests.length;
    const a = await client.responses.create({ model: 'gpt-4o', input: 'first turn' });
    const count = await client.responses.inputTokens.count({ model: 'gpt-4o', input: 'second', instructions: 'be brief', previous_response_id: a.id });
    const expected = systemMessage(o200k, 'be brief') + userMessage(o200k, 'first turn') + 3 + o200k.encode('assistant').length +
      o200k.encode(a.output_text).length + userMessage(o200k, 'second') + 3;
    assert.equal(count.input_tokens, expected);
    assert.equal(upstream.requests.length, calls + 1);  // only the create
    // Tool definitions count; a model with no known encoding is estimated, and says so.
    const withTools = await client.responses.inputTokens.count({ model: 'gpt-4o', input: 'x', tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } }] });
    assert.ok(withTools.input_tokens > userMessage(o200k, 'x') + 3);
    const est = await server.json('/v1/responses/input_tokens', { method: 'POST', body: JSON.stringify({ model: 'my-local-llm', input: 'hello world' }) });
    assert.equal(est.headers.get('x-continuum-token-count-method'), 'estimate');
    // Bad references and bodies are 4xx, as on create.
    const bad = await server.json('/v1/responses/input_tokens', { method: 'POST', body: JSON.stringify({ input: 'x', previous_response_id: 'resp_nope' }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'previous_response_id');
    const badType = await server.json('/v1/responses/input_tokens', { method: 'POST', body: JSON.stringify({ input: 5 }) });
    assert.equal(badType.status, 400);
    const noAuth = await fetch(server.base + '/v1/responses/input_tokens', { method: 'POST', body: '{}' });
    assert.equal(noAuth.status, 401);
  });
});

test('a context over the window is counted by input_tokens and refused by create', async () => {
  await withServer({}, async ({ server }) => {
    const big = 'word '.repeat(140_000);
    const c = await server.json('/v1/responses/input_tokens', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: big }) });
    assert.equal(c.status, 200);
    assert.ok(c.body.input_tokens > 128_000);
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: big }) });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'context_length_exceeded');
  });
});

test('generate: false stores the input without calling the model; it can be continued', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const before = upstream.requests.length;
    const prepared = await client.responses.create({ model: 'gpt-4o', input: 'remember the number 42', generate: false });
    assert.equal(prepared.status, 'completed');
    assert.deepEqual(prepared.output, []);
    assert.equal(upstream.requests.length, before);
    const next = await client.responses.create({ model: 'gpt-4o', input: 'what number?', previous_response_id: prepared.id });
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['remember the number 42', 'what number?']);
    assert.equal(next.previous_response_id, prepared.id);
    // In a conversation its items are appended.
    const conv = await client.conversations.create({});
    await client.responses.create({ model: 'gpt-4o', input: 'noted', conversation: conv.id, generate: false });
    const items = await client.conversations.items.list(conv.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => i.content[0].text), ['noted']);
    const bad = await client.responses.create({ model: 'gpt-4o', input: 'x', generate: 'no' }).catch((e) => e);
    assert.equal(bad.status, 400);
    assert.equal(bad.error.param, 'generate');
  });
});

test('item_reference resolves stored items of the project, in input and in conversation items', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const a = await client.responses.create({ model: 'gpt-4o', input: 'capital of France?' });
    const msg = a.output.find((o) => o.type === 'message');
    const inputItems = await client.responses.inputItems.list(a.id);
    // The Vercel AI SDK's history: earlier user turns in full, earlier replies by reference.
    await client.responses.create({
      model: 'gpt-4o',
      input: [
        { type: 'item_reference', id: inputItems.data[0].id },
        { type: 'item_reference', id: msg.id },
        { role: 'user', content: 'and of Spain?' },
      ],
    });
    assert.deepEqual(upstream.last().body.messages, [
      { role: 'user', content: 'capital of France?' },
      { role: 'assistant', content: a.output_text },
      { role: 'user', content: 'and of Spain?' },
    ]);
    // Unknown, malformed-but-plausible and other projects' ids are 400s naming the id.
    for (const id of ['msg_nope', msg.id.slice(0, -1) + 'Z', 'msg_' + 'A'.repeat(40)]) {
      const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: [{ type: 'item_reference', id }] }) });
      assert.equal(r.status, 400, id);
      assert.equal(r.body.error.param, 'input[0].id');
      assert.match(r.body.error.message, new RegExp(id));
    }
    const other = server.createKey('proj_other');
    const foreign = await server.json('/v1/responses', { method: 'POST', key: other, body: JSON.stringify({ model: 'gpt-4o', input: [{ type: 'item_reference', id: msg.id }] }) });
    assert.equal(foreign.status, 400);
    // A response stored with store: false leaves nothing to refer to.
    const unstored = await client.responses.create({ model: 'gpt-4o', input: 'ephemeral', store: false });
    const gone = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: [{ type: 'item_reference', id: unstored.output[0].id }] }) });
    assert.equal(gone.status, 400);
    // In conversation items, and to items a conversation holds.
    const conv = await client.conversations.create({ items: [{ type: 'item_reference', id: msg.id }, { role: 'user', content: 'hi' }] });
    const items = await client.conversations.items.list(conv.id, { order: 'asc' });
    assert.equal(items.data[0].content[0].text, a.output_text);
    assert.equal(items.data[0].role, 'assistant');
    await client.responses.create({ model: 'gpt-4o', input: [{ type: 'item_reference', id: items.data[1].id }, { role: 'user', content: 'again' }] });
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['hi', 'again']);
  });
});

test('tool outputs go upstream right after their call, even when the last message is re-sent', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const conv = await client.conversations.create({});
    const first = await client.responses.create({ model: 'gpt-4o', input: 'CALL_TOOL weather?', tools, conversation: conv.id });
    const call = first.output.find((o) => o.type === 'function_call');
    assert.ok(call);
    // The client re-sends its message beside the tool's output (as some frameworks do).
    const second = await client.responses.create({
      model: 'gpt-4o', tools, conversation: conv.id,
      input: [{ role: 'user', content: 'CALL_TOOL weather?' }, { type: 'function_call_output', call_id: call.call_id, output: '{"temp": 21}' }],
    });
    assert.equal(second.status, 'completed');
    assert.deepEqual(upstream.last().body.messages.map((m) => m.role), ['user', 'assistant', 'tool', 'user']);
    assert.equal(upstream.last().body.messages[2].tool_call_id, call.call_id);
  });
});

test('models, embeddings and chat completions through the same base URL', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    assert.ok(ids.includes('continuum-local') && ids.includes('gpt-upstream'), ids.join());
    assert.equal((await client.models.retrieve('continuum-local')).id, 'continuum-local');
    // The SDK asks for base64 by default and decodes it.
    const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'cats and dogs' });
    assert.equal(emb.data[0].embedding.length, 16);
    assert.ok(upstream.requests.some((r) => r.embeddings));
    const chat = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi there' }] });
    assert.equal(chat.choices[0].message.content, 'echo: hi there');
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'streamed' }], stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
    assert.equal(text, 'echo: streamed');
    // The upstream's own errors reach the client as it sent them.
    const bad = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'BAD_REQUEST' }], stream: true }).catch((e) => e);
    assert.equal(bad.status, 400);
  });
});

test('offline, the built-in models answer models, embeddings and chat completions', async () => {
  await withServer({ upstream: false }, async ({ server, client }) => {
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['continuum-local']);
    const emb = await client.embeddings.create({ model: 'continuum-local', input: ['one', 'two'] });
    assert.equal(emb.data.length, 2);
    assert.equal(emb.data[1].embedding.length, 256);
    const floats = await client.embeddings.create({ model: 'continuum-local', input: 'one', encoding_format: 'float' });
    assert.deepEqual(floats.data[0].embedding.map((x) => x.toFixed(5)), emb.data[0].embedding.map((x) => x.toFixed(5)));
    const chat = await client.chat.completions.create({ model: 'continuum-local', messages: [{ role: 'user', content: 'hello' }] });
    assert.match(chat.choices[0].message.content, /hello/);
    assert.ok(chat.usage.total_tokens > 0);
    const missing = await client.models.retrieve('gpt-nothing').catch((e) => e);
    assert.equal(missing.status, 404);
    const noAuth = await fetch(server.base + '/v1/models');
    assert.equal(noAuth.status, 401);
    const badInput = await server.json('/v1/embeddings', { method: 'POST', body: JSON.stringify({ model: 'continuum-local', input: 7 }) });
    assert.equal(badInput.status, 400);
    assert.equal(badInput.body.error.param, 'input');
  });
});

test('an unknown route under /v1/responses/ is a 404 naming it', async () => {
  await withServer({}, async ({ server }) => {
    const r = await server.json('/v1/responses/nonsense', { method: 'POST', body: '{}' });
    assert.equal(r.status, 404);
    assert.match(r.body.error.message, /POST \/v1\/responses\/nonsense/);
    const put = await server.json('/v1/responses', { method: 'PUT', body: '{}' });
    assert.equal(put.status, 405);
  });
});

test('logprobs from the upstream reach output_text parts and delta events', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const r = await client.responses.create({ model: 'gpt-4o', input: 'hello world', top_logprobs: 2, include: ['message.output_text.logprobs'] });
    assert.equal(upstream.last().body.logprobs, true);
    assert.equal(upstream.last().body.top_logprobs, 2);
    const part = r.output[0].content[0];
    assert.equal(part.logprobs.map((l) => l.token).join(''), r.output_text);
    assert.equal(part.logprobs[0].top_logprobs.length, 2);
    assert.equal(r.top_logprobs, 2);
    // Stored: the same when read back.
    const again = await client.responses.retrieve(r.id);
    assert.deepEqual(again.output[0].content[0].logprobs, part.logprobs);
    // Streamed: each delta carries its own tokens.
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'hello world', stream: true, include: ['message.output_text.logprobs'] });
    let tokens = '';
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') tokens += ev.logprobs.map((l) => l.token).join('');
    assert.equal(tokens, 'echo: hello world');
    // Without include, nothing is asked of the upstream.
    await client.responses.create({ model: 'gpt-4o', input: 'plain' });
    assert.equal(upstream.last().body.logprobs, undefined);
    const bad = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: 'x', top_logprobs: 21 }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'top_logprobs');
  });
});
