// Responses API through the official openai SDK: create, retrieve, chains, branches, what the
// upstream receives, input_items, delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';

test('create and retrieve a response', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const r = await client.responses.create({ model: 'gpt-test', input: 'hello', instructions: 'be brief', metadata: { k: 'v' } });
    assert.equal(r.object, 'response');
    assert.match(r.id, /^resp_/);
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, 'echo: hello');
    assert.equal(r.instructions, 'be brief');
    assert.deepEqual(r.metadata, { k: 'v' });
    assert.equal(r.usage.input_tokens, 11);
    assert.equal(r.usage.output_tokens, 7);
    assert.equal(r.usage.total_tokens, 18);
    for (const k of ['id', 'object', 'created_at', 'error', 'incomplete_details', 'instructions', 'model', 'tools', 'output', 'parallel_tool_calls', 'metadata', 'tool_choice', 'temperature', 'top_p'])
      assert.ok(k in r, `missing ${k}`);
    const got = await client.responses.retrieve(r.id);
    assert.deepEqual(got.output, r.output);
    assert.equal(got.output_text, 'echo: hello');
    // What went upstream: the instructions as a system message, then the input.
    assert.deepEqual(upstream.last().body.messages, [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hello' },
    ]);
    assert.equal(upstream.last().body.model, 'gpt-test');
    assert.equal(upstream.last().body.stream, true);
  });
});

test('previous_response_id carries history but not old instructions; chains branch', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const a = await client.responses.create({ model: 'm', input: 'first', instructions: 'OLD' });
    const b = await client.responses.create({ model: 'm', input: 'second', previous_response_id: a.id, instructions: 'NEW' });
    assert.equal(b.previous_response_id, a.id);
    assert.deepEqual(upstream.last().body.messages, [
      { role: 'system', content: 'NEW' },
      { role: 'user', content: 'first' },
      { role: 'assistant', content: 'echo: first' },
      { role: 'user', content: 'second' },
    ]);
    // A branch from a: b's turn is not in its context.
    const c = await client.responses.create({ model: 'm', input: 'branch', previous_response_id: a.id });
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['first', 'echo: first', 'branch']);
    // Continue b's line.
    await client.responses.create({ model: 'm', input: 'third', previous_response_id: b.id });
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['first', 'echo: first', 'second', 'echo: second', 'third']);
    assert.notEqual(c.id, b.id);
  });
});

test('input_items lists the chain inputs with pagination', async () => {
  await withServer({}, async ({ client }) => {
    let prev;
    for (let i = 0; i < 3; i++) {
      const r = await client.responses.create({ model: 'm', input: `turn ${i}`, ...(prev ? { previous_response_id: prev } : {}) });
      prev = r.id;
    }
    const page = await client.responses.inputItems.list(prev, { order: 'asc' });
    const texts = page.data.map((i) => i.content[0].text);
    assert.deepEqual(texts, ['turn 0', 'echo: turn 0', 'turn 1', 'echo: turn 1', 'turn 2']);
    const all = [];
    for await (const item of client.responses.inputItems.list(prev, { limit: 2 })) all.push(item.id);
    assert.equal(all.length, 5);
    assert.equal(new Set(all).size, 5);
    const desc = await client.responses.inputItems.list(prev, { limit: 1 });
    assert.equal(desc.data[0].content[0].text, 'turn 2');
    assert.equal(desc.has_more, true);
  });
});

test('store:false responses cannot be retrieved or chained', async () => {
  await withServer({}, async ({ client }) => {
    const r = await client.responses.create({ model: 'm', input: 'x', store: false });
    assert.equal(r.store, false);
    await assert.rejects(client.responses.retrieve(r.id), (e) => e.status === 404);
    await assert.rejects(client.responses.create({ model: 'm', input: 'y', previous_response_id: r.id }),
      (e) => e.status === 400 && e.code === 'previous_response_not_found' && e.param === 'previous_response_id');
  });
});

test('delete makes a response unknown; its children keep their context', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const a = await client.responses.create({ model: 'm', input: 'root' });
    const b = await client.responses.create({ model: 'm', input: 'child', previous_response_id: a.id });
    await client.responses.delete(a.id);
    await assert.rejects(client.responses.retrieve(a.id), (e) => e.status === 404);
    await assert.rejects(client.responses.delete(a.id), (e) => e.status === 404);
    await assert.rejects(client.responses.create({ model: 'm', input: 'z', previous_response_id: a.id }), (e) => e.status === 400);
    await client.responses.create({ model: 'm', input: 'grandchild', previous_response_id: b.id });
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['root', 'echo: root', 'child', 'echo: child', 'grandchild']);
  });
});

test('structured output: text.format json_schema goes upstream as response_format', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    const r = await client.responses.parse({ model: 'm', input: 'json please', text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } } });
    assert.deepEqual(r.output_parsed, { ok: true });
    assert.deepEqual(upstream.last().body.response_format, { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } });
    assert.equal(r.text.format.type, 'json_schema');
  });
});

test('upstream failures: retried before the first token, then a clear error', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const ok = await client.responses.create({ model: 'm', input: 'FAIL_ONCE please' });
    assert.equal(ok.output_text, 'echo: FAIL_ONCE please');
    assert.equal(upstream.requests.length, 2);
    upstream.clear();
    await assert.rejects(client.responses.create({ model: 'm', input: 'FAIL_ALWAYS' }), (e) => e.status === 502 && /upstream exploded/.test(e.message));
    assert.equal(upstream.requests.length, 3);
    await assert.rejects(client.responses.create({ model: 'm', input: 'BAD_REQUEST' }), (e) => e.status === 400 && /did not like/.test(e.message));
  });
});

test('finish_reason length makes an incomplete response', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const r = await client.responses.create({ model: 'm', input: 'LENGTH', max_output_tokens: 16 });
    assert.equal(r.status, 'incomplete');
    assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
    assert.equal(r.output[0].status, 'incomplete');
    assert.equal(upstream.last().body.max_tokens, 16);
  });
});

test('built-in local model works with no upstream and shows carried state', async () => {
  await withServer({ upstream: false }, async ({ client }) => {
    const a = await client.responses.create({ model: 'continuum-local', input: 'my name is Ada' });
    const b = await client.responses.create({ model: 'continuum-local', input: 'what is my name?', previous_response_id: a.id });
    assert.match(b.output_text, /3 messages of context/);
    assert.match(b.output_text, /my name is Ada/);
    // Without an upstream, the built-in model answers whatever the model name (it is echoed).
    const any = await client.responses.create({ model: 'gpt-4o', input: 'x' });
    assert.equal(any.model, 'gpt-4o');
    assert.match(any.output_text, /^\(continuum-local\)/);
  });
});

test('truncation: disabled refuses an oversized context, auto drops the oldest turns', async () => {
  const toml = `models.default_context_window = 200\n`;
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const cfg = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-cfg-')), 'c.toml');
  fs.writeFileSync(cfg, toml);
  await withServer({ args: ['--config', cfg] }, async ({ client, upstream }) => {
    const big = 'x'.repeat(400);
    const a = await client.responses.create({ model: 'm', input: big });
    await assert.rejects(client.responses.create({ model: 'm', input: 'next', previous_response_id: a.id }),
      (e) => e.status === 400 && e.code === 'context_length_exceeded');
    const b = await client.responses.create({ model: 'm', input: 'next', previous_response_id: a.id, truncation: 'auto' });
    assert.equal(b.status, 'completed');
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['next']);
  });
});
