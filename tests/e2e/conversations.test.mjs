// Conversations: CRUD, items with pagination, and responses that read and extend them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';

test('conversation CRUD and items', async () => {
  await withServer({}, async ({ client }) => {
    const c = await client.conversations.create({ metadata: { topic: 'demo' }, items: [{ type: 'message', role: 'user', content: 'seed' }] });
    assert.match(c.id, /^conv_/);
    assert.equal(c.object, 'conversation');
    assert.deepEqual(c.metadata, { topic: 'demo' });
    assert.equal(typeof c.created_at, 'number');
    assert.deepEqual(await client.conversations.retrieve(c.id), c);
    const u = await client.conversations.update(c.id, { metadata: { topic: 'changed' } });
    assert.deepEqual(u.metadata, { topic: 'changed' });
    const added = await client.conversations.items.create(c.id, { items: [
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'two' }] },
      { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'three' }] },
    ] });
    assert.equal(added.data.length, 2);
    assert.equal(added.data[0].status, 'completed');
    const asc = await client.conversations.items.list(c.id, { order: 'asc' });
    assert.deepEqual(asc.data.map((i) => i.content[0].text), ['seed', 'two', 'three']);
    const desc = await client.conversations.items.list(c.id);
    assert.deepEqual(desc.data.map((i) => i.content[0].text), ['three', 'two', 'seed']);
    // Auto-pagination with limit 1 visits every item once.
    const ids = [];
    for await (const it of client.conversations.items.list(c.id, { limit: 1, order: 'asc' })) ids.push(it.id);
    assert.equal(ids.length, 3);
    const one = await client.conversations.items.retrieve(ids[1], { conversation_id: c.id });
    assert.equal(one.content[0].text, 'two');
    const afterDelete = await client.conversations.items.delete(ids[1], { conversation_id: c.id });
    assert.equal(afterDelete.object, 'conversation');
    await assert.rejects(client.conversations.items.retrieve(ids[1], { conversation_id: c.id }), (e) => e.status === 404);
    const del = await client.conversations.delete(c.id);
    assert.deepEqual(del, { id: c.id, object: 'conversation.deleted', deleted: true });
    await assert.rejects(client.conversations.retrieve(c.id), (e) => e.status === 404);
    await assert.rejects(client.conversations.items.list(c.id), (e) => e.status === 404);
  });
});

test('responses in a conversation read its items and append the turn', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const c = await client.conversations.create({ items: [{ role: 'user', content: 'I like tea.' }] });
    const r1 = await client.responses.create({ model: 'm', input: 'first', conversation: c.id, instructions: 'sys' });
    assert.deepEqual(r1.conversation, { id: c.id });
    assert.deepEqual(upstream.last().body.messages, [
      { role: 'system', content: 'sys' }, { role: 'user', content: 'I like tea.' }, { role: 'user', content: 'first' },
    ]);
    await client.responses.create({ model: 'm', input: 'second', conversation: { id: c.id } });
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['I like tea.', 'first', 'echo: first', 'second']);
    const items = await client.conversations.items.list(c.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => [i.role, i.content[0].text]), [
      ['user', 'I like tea.'], ['user', 'first'], ['assistant', 'echo: first'], ['user', 'second'], ['assistant', 'echo: second'],
    ]);
    // Items added through the items API are part of the next turn's context.
    await client.conversations.items.create(c.id, { items: [{ role: 'user', content: 'note' }] });
    await client.responses.create({ model: 'm', input: 'third', conversation: c.id });
    assert.deepEqual(upstream.last().body.messages.slice(-2).map((m) => m.content), ['note', 'third']);
    // Failed turns append nothing.
    await assert.rejects(client.responses.create({ model: 'm', input: 'FAIL_ALWAYS', conversation: c.id }));
    const after = await client.conversations.items.list(c.id, { order: 'asc', limit: 100 });
    assert.equal(after.data.length, 8);
  });
});

test('conversation errors', async () => {
  await withServer({}, async ({ client, server }) => {
    await assert.rejects(client.responses.create({ model: 'm', input: 'x', conversation: 'conv_nope' }), (e) => e.status === 404 && e.param === 'conversation');
    await assert.rejects(client.conversations.retrieve('conv_nope'), (e) => e.status === 404);
    const c = await client.conversations.create({});
    let r = await server.json(`/v1/conversations/${c.id}`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'metadata');
    r = await server.json(`/v1/conversations/${c.id}/items`, { method: 'POST', body: JSON.stringify({ items: 'x' }) });
    assert.equal(r.status, 400);
    r = await server.json('/v1/conversations', { method: 'POST', body: JSON.stringify({ items: Array(21).fill({ role: 'user', content: 'x' }) }) });
    assert.equal(r.status, 400);
    r = await server.json(`/v1/conversations/${c.id}/items?limit=0`);
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'limit');
    r = await server.json(`/v1/conversations/${c.id}/items?order=sideways`);
    assert.equal(r.body.error.param, 'order');
  });
});
