// One agent carried between servers and projects: its export (versions, aliases, memory records
// with provenance, conversations) and import with ids kept or remapped; refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withServer, Server, sleep } from './harness.mjs';

const post = (server, p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });

test('agent transfer: export from one server, import into another with ids kept, and a remapped copy', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    await post(server, '/v1/agents', { name: 'support', model: 'm-support', instructions: 'v1 says hi.' });
    await post(server, '/v1/agents', { name: 'support', model: 'm-support', instructions: 'v2 says hello.' });
    await post(server, '/v1/agents/support/aliases/prod', { version: 1 });
    const conv = await client.conversations.create({ metadata: { case: '42' } }, { headers: { 'x-continuum-user': 'ada' } });
    const turn = await client.responses.create({ model: 'agent:support@prod', input: 'my order is late', conversation: conv.id, memory: 'off' }, { headers: { 'x-continuum-user': 'ada' } });
    const other = await client.conversations.create({});  // not the agent's
    await client.responses.create({ model: 'm', input: 'unrelated', conversation: other.id });
    const mem = await post(server, '/v1/memories', { text: 'Ada ships to Lyon', user_id: 'ada', agent_id: 'support', metadata: { src: 'crm' } });
    assert.equal(mem.status, 200, JSON.stringify(mem.body));
    await post(server, '/v1/memories', { text: 'not the agent\'s', user_id: 'ada' });

    const ex = await server.json('/v1/agents/support/export?conversations=true');
    assert.equal(ex.status, 200, JSON.stringify(ex.body));
    assert.match(ex.headers.get('content-disposition'), /agent-support\.json/);
    const doc = ex.body;
    assert.equal(doc.object, 'continuum.agent_export');
    assert.deepEqual(doc.agent.versions.map((v) => v.version), [1, 2]);
    assert.deepEqual(doc.agent.aliases, { prod: 1 });
    assert.deepEqual(doc.memories.map((m) => m.text), ['Ada ships to Lyon']);
    assert.deepEqual(doc.conversations.map((c) => c.id), [conv.id]);
    assert.equal(doc.conversations[0].user_id, 'ada');
    assert.ok(doc.conversations[0].items.some((i) => i.type === 'message' && i.role === 'assistant'));
    // Without conversations unless asked; only for admins; unknown agents are 404s.
    assert.equal((await server.json('/v1/agents/support/export')).body.conversations, undefined);
    assert.equal((await server.json('/v1/agents/nobody/export')).status, 404);
    const plain = (await post(server, '/v1/admin/keys', { name: 'p', scopes: ['responses'] })).body.value;
    assert.equal((await server.json('/v1/agents/support/export', { key: plain })).status, 403);
    assert.equal((await server.json('/v1/agents/import', { method: 'POST', key: plain, body: JSON.stringify(doc) })).status, 403);

    // Another server: ids kept.
    const b = new Server({ upstream });
    await b.start();
    try {
      const imp = await b.json('/v1/agents/import', { method: 'POST', body: JSON.stringify(doc) });
      assert.equal(imp.status, 200, JSON.stringify(imp.body));
      assert.deepEqual({ ...imp.body, ids: undefined }, { object: 'continuum.agent_import', agent: 'support', versions: 2, aliases: 1, memories: 1, conversations: 1, ids: undefined });
      assert.deepEqual(imp.body.ids, {});
      const versions = await b.json('/v1/agents/support/versions');
      assert.deepEqual(versions.body.data.map((v) => v.definition.instructions), ['v1 says hi.', 'v2 says hello.']);
      assert.deepEqual(versions.body.data[0].aliases, { prod: 1 });
      const m = await b.json(`/v1/memories/${mem.body.id}`);
      assert.equal(m.status, 200);
      assert.equal(m.body.namespace.agent_id, 'support');
      assert.equal(m.body.source.type, 'api', 'provenance kept');
      assert.deepEqual(m.body.metadata, { src: 'crm' });
      assert.equal((await b.json(`/v1/memories/${mem.body.id}/history`)).body.data[0].reason, 'imported');
      // The conversation goes on there, for its user, as the agent's prod version.
      const bc = b.client();
      const items = await b.json(`/v1/conversations/${conv.id}/items?order=asc`, { headers: { 'x-continuum-user': 'ada' } });
      assert.ok(items.body.data.some((i) => i.content?.[0]?.text === 'my order is late'));
      const before = upstream.requests.length;
      const next = await bc.responses.create({ model: 'agent:support@prod', input: 'any news?', conversation: conv.id }, { headers: { 'x-continuum-user': 'ada' } });
      assert.equal(next.status, 'completed');
      const sent = upstream.requests.slice(before).find((q) => q.body.model === 'm-support');
      assert.ok(JSON.stringify(sent.body.messages).includes('my order is late'), 'the imported history is the context');
      assert.ok(JSON.stringify(sent.body.messages).includes('v1 says hi.'));
      // Again: the agent exists; under another name, the kept ids are taken and nothing is written.
      assert.equal((await b.json('/v1/agents/import', { method: 'POST', body: JSON.stringify(doc) })).body.error.code, 'agent_exists');
      const taken = await b.json('/v1/agents/import?name=support2', { method: 'POST', body: JSON.stringify(doc) });
      assert.equal(taken.status, 409);
      assert.equal(taken.body.error.code, 'conversation_exists');
      assert.equal((await b.json('/v1/agents/support2')).status, 404, 'nothing was written');
    } finally {
      await b.stop();
      b.cleanup();
    }

    // The same server, remapped: a copy with new ids.
    const copy = await server.json('/v1/agents/import?ids=remap&name=support_copy', { method: 'POST', body: JSON.stringify(doc) });
    assert.equal(copy.status, 200, JSON.stringify(copy.body));
    const newConv = copy.body.ids[conv.id], newMem = copy.body.ids[mem.body.id];
    assert.ok(newConv && newConv !== conv.id && newMem && newMem !== mem.body.id);
    const cm = await server.json(`/v1/memories/${newMem}`);
    assert.equal(cm.body.namespace.agent_id, 'support_copy');
    assert.equal((await server.json(`/v1/conversations/${newConv}`, { headers: { 'x-continuum-user': 'ada' } })).status, 200);
    assert.equal((await server.json(`/v1/conversations/${newConv}`, { headers: { 'x-continuum-user': 'bob' } })).status, 404, 'still ada\'s');

    // Bad documents are 400s.
    for (const bad of [{}, { ...doc, format_version: 9 }, { ...doc, agent: { name: 'x', versions: [] } },
      { ...doc, agent: { name: 'y', versions: [{ version: 1, definition: { name: 'y' } }] } }]) {
      const r = await server.json('/v1/agents/import?ids=remap&name=zz', { method: 'POST', body: JSON.stringify(bad) });
      assert.equal(r.status, 400, JSON.stringify(r.body));
    }
    assert.equal((await server.json('/v1/agents/import?ids=maybe', { method: 'POST', body: JSON.stringify(doc) })).status, 400);
  });
});

test('agent transfer: an export larger than the server accepts as a body is refused, not cut short', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-cfg-')), 'c.toml');
  fs.writeFileSync(file, '[limits]\nmax_body_bytes = 20000\n');
  await withServer({ args: ['--config', file] }, async ({ server, client }) => {
    await post(server, '/v1/agents', { name: 'chatty', model: 'm' });
    for (let i = 0; i < 4; i++) {
      const conv = await client.conversations.create({});
      await client.responses.create({ model: 'agent:chatty', input: `turn ${i} ` + 'x'.repeat(6000), conversation: conv.id, memory: 'off' });
    }
    const big = await server.json('/v1/agents/chatty/export?conversations=true');
    assert.equal(big.status, 400);
    assert.equal(big.body.error.code, 'export_too_large');
    assert.match(big.body.error.message, /20000 bytes/);
    const small = await server.json('/v1/agents/chatty/export');
    assert.equal(small.status, 200);
    // What it does export, it can import.
    const again = await server.json('/v1/agents/import?name=chatty2', { method: 'POST', body: JSON.stringify(small.body) });
    assert.equal(again.status, 200, JSON.stringify(again.body));
  });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});

test('agent transfer: an import cut short by kill -9 is finished by running it again', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    await post(server, '/v1/agents', { name: 'clerk', model: 'm', instructions: 'one' });
    await post(server, '/v1/agents', { name: 'clerk', model: 'm', instructions: 'two' });
    await post(server, '/v1/agents/clerk/aliases/prod', { version: 2 });
    const convs = [];
    for (let i = 0; i < 20; i++) {
      const conv = await client.conversations.create({}, { headers: { 'x-continuum-user': `u${i}` } });
      await client.responses.create({ model: 'agent:clerk', input: `case ${i}`, conversation: conv.id, memory: 'off' }, { headers: { 'x-continuum-user': `u${i}` } });
      await post(server, '/v1/memories', { text: `u${i} likes tea`, user_id: `u${i}`, agent_id: 'clerk' });
      convs.push(conv.id);
    }
    const doc = (await server.json('/v1/agents/clerk/export?conversations=true')).body;
    assert.equal(doc.conversations.length, 20);

    const b = new Server({ upstream });
    await b.start();
    try {
      // The state a crash after the data but before the agent leaves: the import is run again.
      assert.equal((await b.json('/v1/agents/import', { method: 'POST', body: JSON.stringify(doc) })).status, 200);
      assert.equal((await b.json('/v1/agents/clerk', { method: 'DELETE' })).status, 200);
      const again = await b.json('/v1/agents/import', { method: 'POST', body: JSON.stringify(doc) });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.equal(again.body.conversations, 20);
      assert.equal(again.body.memories, 20);
      // Killed at moments within the import, then run again until it succeeds.
      for (const delay of [2, 6, 12]) {
        const name = `clerk_${delay}`;
        const req = b.json(`/v1/agents/import?ids=keep&name=${name}`, { method: 'POST', body: JSON.stringify({ ...doc, conversations: [], memories: [] }) }).catch(() => null);
        await sleep(delay);
        await b.kill9();
        await req;
        await b.start();
        const done = await b.json(`/v1/agents/import?ids=keep&name=${name}`, { method: 'POST', body: JSON.stringify({ ...doc, conversations: [], memories: [] }) });
        assert.ok(done.status === 200 || done.body.error?.code === 'agent_exists', JSON.stringify(done.body));
        const got = await b.json(`/v1/agents/${name}/versions`);
        assert.deepEqual(got.body.data.map((v) => v.definition.instructions), ['one', 'two'], `${name}: every version, once`);
      }
      // The data import itself, killed and run again: every conversation and memory, once.
      assert.equal((await b.json('/v1/agents/clerk', { method: 'DELETE' })).status, 200);
      const c = new Server({ upstream });
      await c.start();
      try {
        const req = c.json('/v1/agents/import', { method: 'POST', body: JSON.stringify(doc) }).catch(() => null);
        await sleep(15);
        await c.kill9();
        await req;
        await c.start();
        // Run again: it finishes the import, or finds it finished before the kill came.
        const done = await c.json('/v1/agents/import', { method: 'POST', body: JSON.stringify(doc) });
        assert.ok(done.status === 200 || done.body.error?.code === 'agent_exists', JSON.stringify(done.body));
        for (const [i, id] of convs.entries()) {
          const items = await c.json(`/v1/conversations/${id}/items?limit=100`, { headers: { 'x-continuum-user': `u${i}` } });
          assert.equal(items.body.data.length, doc.conversations.find((x) => x.id === id).items.length);
        }
        const mems = await c.json('/v1/memories?limit=100&agent_id=clerk');
        assert.equal(mems.body.data.length, 20);
      } finally {
        await c.stop();
        c.cleanup();
      }
    } finally {
      await b.stop();
      b.cleanup();
    }
  });
});
