// Compaction: POST /v1/responses/compact (stateless: user messages and one sealed compaction
// item, passed back as input), sealed content that cannot be forged or moved between projects,
// and automatic compaction (context_management) keeping a long conversation's context bounded
// while every item stays listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, parseSSE } from './harness.mjs';

const SUMMARY_PROMPT = /You compact a conversation/;

test('responses.compact returns the user messages and a sealed compaction; it continues statelessly', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const input = [
      { role: 'user', content: 'My name is Ada and I need a trip to Lisbon.' },
      { role: 'assistant', content: 'Noted: Lisbon, for Ada.' },
      { role: 'user', content: 'Budget is 900 euros.' },
    ];
    const compacted = await client.responses.compact({ model: 'gpt-4o', input });
    assert.equal(compacted.object, 'response.compaction');
    const types = compacted.output.map((o) => o.type);
    assert.deepEqual(types, ['message', 'message', 'compaction']);
    assert.deepEqual(compacted.output.slice(0, 2).map((m) => m.content[0].text), [input[0].content, input[2].content]);
    const item = compacted.output[2];
    assert.match(item.id, /^cmp_/);
    // The summary was asked of the model with the compaction prompt, over the whole context.
    const asked = upstream.last().body.messages;
    assert.match(asked[0].content, SUMMARY_PROMPT);
    assert.ok(asked.some((m) => m.content === 'Noted: Lisbon, for Ada.'));
    // The client cannot read it: the summary is not in the sealed text.
    const summary = 'echo: Write the summary of the conversation above now.';
    assert.ok(!item.encrypted_content.includes('summary'));
    assert.ok(compacted.usage.total_tokens > 0);

    // Passed back with store: false, the model sees the user messages, the summary, the new turn.
    await client.responses.create({ model: 'gpt-4o', store: false, input: [...compacted.output, { role: 'user', content: 'Book it.' }] });
    const sent = upstream.last().body.messages;
    assert.deepEqual(sent.map((m) => m.role), ['user', 'user', 'system', 'user']);
    assert.match(sent[2].content, new RegExp(summary));
    assert.equal(sent[3].content, 'Book it.');

    // A forged or altered compaction is refused, naming the field; so is one from another project.
    const altered = item.encrypted_content.slice(0, -4) + (item.encrypted_content.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const bad of [altered, 'not-sealed', '']) {
      const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: [{ type: 'compaction', encrypted_content: bad }] }) });
      assert.equal(r.status, 400);
      assert.equal(r.body.error.param, 'input[0].encrypted_content');
    }
    const other = server.createKey('proj_other');
    const moved = await server.json('/v1/responses', { method: 'POST', key: other, body: JSON.stringify({ model: 'gpt-4o', input: [item] }) });
    assert.equal(moved.status, 400);
    assert.equal(moved.body.error.param, 'input[0].encrypted_content');
    // Compacting a chain: previous_response_id's history is what is summarized.
    const a = await client.responses.create({ model: 'gpt-4o', input: 'first of a chain' });
    const c2 = await client.responses.compact({ model: 'gpt-4o', previous_response_id: a.id, input: 'and more' });
    assert.deepEqual(c2.output.filter((o) => o.type === 'message').map((m) => m.content[0].text), ['first of a chain', 'and more']);
    const none = await server.json('/v1/responses/compact', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', previous_response_id: 'resp_missing' }) });
    assert.equal(none.status, 400);
  });
});

test('offline, the built-in model compacts deterministically', async () => {
  await withServer({ upstream: false }, async ({ client }) => {
    const input = [{ role: 'user', content: 'The code word is PELICAN.' }, { role: 'user', content: 'Remember it.' }];
    const one = await client.responses.compact({ model: 'continuum-local', input });
    const two = await client.responses.compact({ model: 'continuum-local', input });
    assert.notEqual(one.output[2].encrypted_content, two.output[2].encrypted_content);  // fresh nonce each time
    const r = await client.responses.create({ model: 'continuum-local', input: [one.output[2], { role: 'user', content: 'what was it?' }] });
    assert.equal(r.status, 'completed');
  });
});

test('automatic compaction keeps a 24-turn conversation\'s context bounded; every item stays listed', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const conv = await client.conversations.create({});
    const filler = 'detail '.repeat(250);
    const sizes = [];
    let compactions = 0;
    for (let i = 0; i < 24; i++) {
      const r = await client.responses.create({
        model: 'gpt-4o', conversation: conv.id, input: `turn ${i}: ${filler}`,
        context_management: [{ type: 'compaction', compact_threshold: 1500 }],
      });
      compactions += r.output.filter((o) => o.type === 'compaction').length;
      const turn = upstream.requests.filter((q) => !q.embeddings && !q.models && !SUMMARY_PROMPT.test(q.body.messages[0]?.content ?? '')).pop();
      sizes.push(JSON.stringify(turn.body.messages).length);
    }
    assert.ok(compactions >= 3, `compacted ${compactions} times`);
    // Without compaction the 24th context would hold 24 turns (~40 KB); with it, a few.
    assert.ok(Math.max(...sizes.slice(12)) < 12_000, `context sizes ${sizes.join(',')}`);
    const last = upstream.requests.filter((q) => !SUMMARY_PROMPT.test(q.body.messages?.[0]?.content ?? '')).pop();
    assert.ok(last.body.messages.some((m) => m.role === 'system' && /conversation_summary/.test(m.content)));
    // Nothing stored was deleted: every turn's input and reply is listed.
    const items = [];
    for await (const it of client.conversations.items.list(conv.id, { order: 'asc', limit: 100 })) items.push(it);
    assert.equal(items.filter((i) => i.type === 'message' && i.role === 'user').length, 24);
    assert.equal(items.filter((i) => i.type === 'compaction').length, compactions);
    // The count reflects the compacted context, not the whole conversation.
    const counted = await client.responses.inputTokens.count({ model: 'gpt-4o', conversation: conv.id, input: 'next' });
    assert.ok(counted.input_tokens < 4000, `counted ${counted.input_tokens}`);
    // Streamed: the compaction is announced before its item.
    const res = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({
      model: 'gpt-4o', conversation: conv.id, input: filler.repeat(3), stream: true,
      context_management: [{ type: 'compaction', compact_threshold: 1000 }] }) });
    const events = parseSSE(await res.text()).map((e) => e.data);
    const at = events.findIndex((e) => e.type === 'response.compaction.compacting');
    assert.ok(at >= 0, events.map((e) => e.type).join());
    assert.equal(events[at + 1].type, 'response.output_item.added');
    assert.equal(events[at + 1].item.type, 'compaction');
    // A bad context_management is a 400 naming the field.
    const bad = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o', input: 'x', context_management: [{ type: 'compaction', compact_threshold: 5 }] }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'context_management[0].compact_threshold');
  });
});
