// Concurrent turns on one conversation or chain tip: reject (default), enqueue, interrupt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, sleep } from './harness.mjs';

test('reject: a second turn while one runs gets 409 conversation_busy', async () => {
  await withServer({}, async ({ client }) => {
    const c = await client.conversations.create({});
    const slow = client.responses.create({ model: 'm', input: 'SLOW a', conversation: c.id });
    await sleep(150);
    await assert.rejects(client.responses.create({ model: 'm', input: 'b', conversation: c.id }),
      (e) => e.status === 409 && e.code === 'conversation_busy');
    assert.equal((await slow).status, 'completed');
    // The line is free again.
    const ok = await client.responses.create({ model: 'm', input: 'c', conversation: c.id });
    assert.equal(ok.status, 'completed');
  });
});

test('enqueue: turns run one after another in arrival order, no interleaving', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const c = await client.conversations.create({});
    const first = client.responses.create({ model: 'm', input: 'SLOW one', conversation: c.id });
    await sleep(100);
    const rest = [];
    for (let i = 0; i < 5; i++) {
      rest.push(client.responses.create({ model: 'm', input: `n${i}`, conversation: c.id, concurrency: 'enqueue' }));
      await sleep(10);
    }
    const all = await Promise.all([first, ...rest]);
    assert.ok(all.every((r) => r.status === 'completed'));
    const items = await client.conversations.items.list(c.id, { order: 'asc', limit: 100 });
    const texts = items.data.map((i) => i.content[0].text);
    assert.equal(texts.length, 12);
    // Pairs stay together: every user turn is followed by its own answer.
    for (let i = 0; i < 12; i += 2) assert.equal(texts[i + 1].trim().startsWith(texts[i].startsWith('SLOW') ? 'w0' : 'echo: ' + texts[i]), true, texts.join('|'));
    assert.deepEqual(texts.filter((_, i) => i % 2 === 0), ['SLOW one', 'n0', 'n1', 'n2', 'n3', 'n4']);
    // Each enqueued turn saw everything before it.
    const lastReq = upstream.last().body.messages.map((m) => m.content);
    assert.equal(lastReq.length, 11);
  });
});

test('interrupt: cancels the running turn, then runs', async () => {
  await withServer({}, async ({ client }) => {
    const c = await client.conversations.create({});
    const slow = client.responses.create({ model: 'm', input: 'SLOW one', conversation: c.id });
    await sleep(200);
    const now = await client.responses.create({ model: 'm', input: 'urgent', conversation: c.id, concurrency: 'interrupt' });
    assert.equal(now.status, 'completed');
    const cancelled = await slow;
    assert.equal(cancelled.status, 'cancelled');
    const items = await client.conversations.items.list(c.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => i.content[0].text), ['urgent', 'echo: urgent']);
  });
});

test('chain tip: a child of a running response is refused or waits', async () => {
  await withServer({}, async ({ client }) => {
    const parent = await client.responses.create({ model: 'm', input: 'SLOW p', background: true });
    await assert.rejects(client.responses.create({ model: 'm', input: 'child', previous_response_id: parent.id }),
      (e) => e.status === 409 && e.code === 'conversation_busy');
    const child = await client.responses.create({ model: 'm', input: 'child', previous_response_id: parent.id, concurrency: 'enqueue' });
    assert.equal(child.status, 'completed');
    const p = await client.responses.retrieve(parent.id);
    assert.equal(p.status, 'completed');
  });
});

test('many concurrent chains: nothing lost', async () => {
  await withServer({}, async ({ client }) => {
    const chains = await Promise.all(Array.from({ length: 20 }, async (_, k) => {
      let prev;
      for (let i = 0; i < 5; i++) {
        const r = await client.responses.create({ model: 'm', input: `c${k}t${i}`, ...(prev ? { previous_response_id: prev } : {}) });
        prev = r.id;
      }
      return prev;
    }));
    for (const [k, id] of chains.entries()) {
      const items = await client.responses.inputItems.list(id, { order: 'asc', limit: 100 });
      assert.equal(items.data.length, 9);
      assert.equal(items.data[8].content[0].text, `c${k}t4`);
    }
  });
});
