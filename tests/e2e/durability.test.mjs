// Durability: what the API acknowledged survives kill -9; graceful shutdown on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Server, sleep, withServer, PG } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

test('acknowledged responses and conversations survive kill -9', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    let client = server.client();
    const acked = [];
    let prev;
    await Promise.all(Array.from({ length: 8 }, async (_, k) => {
      for (let i = 0; i < 10; i++) {
        const r = await client.responses.create({ model: 'm', input: `k${k} i${i}` });
        acked.push(r.id);
      }
    }));
    for (let i = 0; i < 5; i++) {
      const r = await client.responses.create({ model: 'm', input: `chain ${i}`, ...(prev ? { previous_response_id: prev } : {}) });
      prev = r.id;
    }
    const conv = await client.conversations.create({ metadata: { a: 'b' } });
    await client.responses.create({ model: 'm', input: 'in conv', conversation: conv.id });
    const exit = await server.kill9();
    assert.equal(exit.sig, 'SIGKILL');
    await server.start();
    client = server.client();
    for (const id of acked) assert.equal((await client.responses.retrieve(id)).status, 'completed');
    // The chain continues from disk with its whole history.
    upstream.clear();
    await client.responses.create({ model: 'm', input: 'after restart', previous_response_id: prev });
    assert.equal(upstream.last().body.messages.length, 11);
    const items = await client.conversations.items.list(conv.id, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => i.content[0].text), ['in conv', 'echo: in conv']);
    assert.deepEqual((await client.conversations.retrieve(conv.id)).metadata, { a: 'b' });
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('an interrupted stream leaves a failed response, never in_progress', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const res = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'SLOW s', stream: true }) });
    const reader = res.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    const id = first.match(/resp_[A-Za-z0-9]+/)[0];
    await server.kill9();
    await server.start();
    const r = await server.client().responses.retrieve(id);
    assert.equal(r.status, 'failed');
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('SIGTERM lets an in-flight turn finish and exits cleanly', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const client = server.client();
    const pending = client.responses.create({ model: 'm', input: 'SLOW finishing' });
    await sleep(300);
    const exit = server.stop();
    const r = await pending;
    assert.equal(r.status, 'completed');
    const { code } = await exit;
    assert.equal(code, 0);
    await server.start();
    assert.equal((await server.client().responses.retrieve(r.id)).status, 'completed');
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('a clean stop checkpoints the log into the database file', { skip: PG ? 'SQLite only' : false }, async () => {
  await withServer({}, async ({ client, server }) => {
    const r = await client.responses.create({ model: 'm', input: 'kept after a clean stop' });
    await server.stop();
    const files = fs.readdirSync(server.dataDir);
    assert.ok(files.includes('continuum.db'));
    assert.ok(!files.includes('continuum.db-wal'), `left behind: ${files.join(', ')}`);
    await server.start();
    const back = await client.responses.retrieve(r.id);
    assert.equal(back.status, 'completed');
    assert.equal(back.output_text, r.output_text);
  });
});

test('kill -9 in the middle of concurrent chained and conversation turns, five times over: nothing acknowledged is lost', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const acked = new Map();  // id -> the input it answered
    const tips = new Array(6).fill(undefined);
    let conv = (await server.client().conversations.create({})).id;
    let convTurns = 0;
    for (let round = 0; round < 5; round++) {
      const client = server.client();
      let stop = false;
      const workers = tips.map(async (_, k) => {
        for (let i = 0; !stop; i++) {
          const input = `r${round} w${k} t${i}`;
          try {
            const r = await client.responses.create({ model: 'm', input, ...(tips[k] ? { previous_response_id: tips[k] } : {}) });
            acked.set(r.id, input);
            tips[k] = r.id;
          } catch { return; }  // the server died under it: not acknowledged
        }
      });
      const talker = (async () => {
        while (!stop) {
          try {
            await client.responses.create({ model: 'm', input: `conv r${round}`, conversation: conv, concurrency: 'enqueue' });
            convTurns++;
          } catch { return; }
        }
      })();
      await sleep(150 + 100 * round);
      await server.kill9();
      stop = true;
      await Promise.all([...workers, talker]);
      await server.start();
    }
    const client = server.client();
    for (const [id, input] of acked) {
      const r = await client.responses.retrieve(id);
      assert.equal(r.status, 'completed');
      assert.equal(r.output_text, `echo: ${input}`);
    }
    // Every chain continues from its last acknowledged turn, with its whole history.
    for (const tip of tips.filter(Boolean)) {
      const items = await client.responses.inputItems.list(tip, { limit: 100 });
      assert.ok(items.data.length >= 1);
    }
    // The conversation holds every acknowledged turn (two items each), in order.
    const items = [];
    for await (const it of client.conversations.items.list(conv, { order: 'asc', limit: 100 })) items.push(it);
    assert.ok(items.length >= convTurns * 2, `${items.length} items for ${convTurns} acknowledged turns`);
    assert.ok(acked.size > 20, `only ${acked.size} turns were acknowledged`);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});
