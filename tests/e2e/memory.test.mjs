// Long-term memory end to end: background extraction through the recording upstream,
// injection into later conversations of the same user only, consolidation with history,
// erasure, durable jobs across kill -9, and the memory API's errors.
import { test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { withServer, Server, sleep, BIN, jobsSettled } from './harness.mjs';
import { spawnSync } from 'node:child_process';
import { startFakeUpstream } from './fake-upstream.mjs';

// A TOML configuration file with `text`, in a fresh temporary directory.
function configFile(text) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-cfg-')), 'c.toml');
  fs.writeFileSync(file, text);
  return file;
}

const chatTurns = (upstream) => upstream.requests.filter((r) => !r.body.response_format);

test('facts follow the user into a new conversation, and no one else', async () => {
  await withServer({}, async ({ client, server, upstream }) => {
    await client.responses.create({ model: 'm', input: 'Hello. I am allergic to peanuts. I prefer answers in French.', safety_identifier: 'alice' });
    const jobs = await jobsSettled(server);
    assert.equal(jobs[0].status, 'done');
    const extraction = upstream.requests.find((r) => r.body.response_format?.json_schema?.name === 'memory_extraction');
    assert.equal(extraction.body.response_format.type, 'json_schema');
    assert.equal(extraction.body.response_format.json_schema.strict, true);
    const list = await server.json('/v1/memories?user_id=alice');
    assert.deepEqual(list.body.data.map((m) => m.text).sort(), ['I am allergic to peanuts.', 'I prefer answers in French.']);
    const fact = list.body.data.find((m) => m.kind === 'fact');
    assert.equal(fact.source.type, 'extraction');
    assert.match(fact.source.response_id, /^resp_/);
    assert.equal(fact.source.item_ids.length, 2);

    // A brand-new conversation, no previous_response_id: the memories are in the context.
    const conv = await client.conversations.create({});
    const r = await client.responses.create({ model: 'm', input: 'Which snack should I buy for the trip?', conversation: conv.id, safety_identifier: 'alice' });
    const sent = JSON.stringify(chatTurns(upstream).at(-1).body.messages);
    assert.match(sent, /allergic to peanuts/);
    assert.match(sent, /long_term_memory/);
    assert.ok(r.memories_used.includes(fact.id));
    // The same through the header.
    await server.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': 'alice' }, body: JSON.stringify({ model: 'm', input: 'peanuts in the snack?' }) });
    assert.match(JSON.stringify(chatTurns(upstream).at(-1).body.messages), /allergic to peanuts/);

    // Another user sees nothing of it; nor does a request without a user, or with memory off.
    await client.responses.create({ model: 'm', input: 'Which snack should I buy, peanuts?', safety_identifier: 'bob' });
    assert.doesNotMatch(JSON.stringify(chatTurns(upstream).at(-1).body.messages), /allergic/);
    await client.responses.create({ model: 'm', input: 'Which snack with peanuts?' });
    assert.doesNotMatch(JSON.stringify(chatTurns(upstream).at(-1).body.messages), /allergic/);
    const off = await client.responses.create({ model: 'm', input: 'peanuts snack?', safety_identifier: 'alice', memory: 'off' });
    assert.doesNotMatch(JSON.stringify(chatTurns(upstream).at(-1).body.messages), /allergic/);
    assert.equal(off.memories_used, undefined);
  });
});

test('a changed preference supersedes the old one; history keeps both', async () => {
  await withServer({}, async ({ client, server }) => {
    await client.responses.create({ model: 'm', input: 'I prefer answers in French.', safety_identifier: 'carol' });
    await jobsSettled(server, 1);
    const before = (await server.json('/v1/memories?user_id=carol')).body.data;
    assert.equal(before.length, 1);
    await client.responses.create({ model: 'm', input: 'Actually I prefer answers in German.', safety_identifier: 'carol' });
    await jobsSettled(server, 2);
    const active = (await server.json('/v1/memories?user_id=carol')).body.data;
    assert.deepEqual(active.map((m) => m.text), ['Actually I prefer answers in German.']);
    const old = (await server.json(`/v1/memories/${before[0].id}`)).body;
    assert.equal(old.status, 'superseded');
    assert.equal(old.superseded_by, active[0].id);
    assert.ok(old.valid_to >= old.valid_from);
    const all = (await server.json('/v1/memories?user_id=carol&status=all')).body.data;
    assert.equal(all.length, 2);
    const hist = (await server.json(`/v1/memories/${before[0].id}/history`)).body.data;
    assert.deepEqual(hist.map((h) => h.event), ['created', 'superseded']);
    assert.equal(hist[1].related_id, active[0].id);
    // Only the current preference is injected.
    const s = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'answers language', filters: { user_id: 'carol' } }) });
    assert.deepEqual(s.body.data.map((m) => m.text), ['Actually I prefer answers in German.']);
  });
});

test('explicit writes are searchable at once; patch and delete keep history', async () => {
  await withServer({}, async ({ server }) => {
    const w = await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Dana works night shifts at the hospital.', user_id: 'dana', kind: 'fact', metadata: { topic: 'work' } }) });
    assert.equal(w.status, 200);
    assert.equal(w.body.source.type, 'api');
    const s = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'night shifts', top_k: 3, filters: { user_id: 'dana', metadata: { topic: 'work' } } }) });
    assert.equal(s.body.data[0].id, w.body.id);
    assert.ok(s.body.data[0].score > 0);
    const none = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'night shifts', filters: { user_id: 'dana', metadata: { topic: 'home' } } }) });
    assert.equal(none.body.data.length, 0);
    const p = await server.json(`/v1/memories/${w.body.id}`, { method: 'PATCH', body: JSON.stringify({ text: 'Dana works day shifts now.' }) });
    assert.equal(p.body.text, 'Dana works day shifts now.');
    const d = await server.json(`/v1/memories/${w.body.id}`, { method: 'DELETE' });
    assert.deepEqual(d.body, { id: w.body.id, object: 'memory.deleted', deleted: true });
    assert.equal((await server.json(`/v1/memories/${w.body.id}`)).status, 404);
    const hist = (await server.json(`/v1/memories/${w.body.id}/history`)).body.data;
    assert.deepEqual(hist.map((h) => [h.event, h.text]), [['created', 'Dana works night shifts at the hospital.'], ['updated', 'Dana works day shifts now.'], ['deleted', 'Dana works day shifts now.']]);
    const gone = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'shifts', filters: { user_id: 'dana' } }) });
    assert.equal(gone.body.data.length, 0);
  });
});

test('erasing a user removes everything remembered, and a restart does not bring it back', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const client = server.client();
    await client.responses.create({ model: 'm', input: 'I live in Lisbon. My dog is called Rex.', safety_identifier: 'erin' });
    await client.responses.create({ model: 'm', input: 'I live in Oslo.', safety_identifier: 'frank' });
    await jobsSettled(server, 2);
    const ids = (await server.json('/v1/memories?user_id=erin')).body.data.map((m) => m.id);
    assert.equal(ids.length, 2);
    const del = await server.json('/v1/users/erin/memories', { method: 'DELETE' });
    assert.deepEqual(del.body, { object: 'user.memories.deleted', user_id: 'erin', deleted: 2 });
    const check = async () => {
      assert.equal((await server.json('/v1/memories?user_id=erin&status=all')).body.data.length, 0);
      for (const id of ids) {
        assert.equal((await server.json(`/v1/memories/${id}`)).status, 404);
        assert.equal((await server.json(`/v1/memories/${id}/history`)).status, 404);
      }
      const s = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'Lisbon dog Rex' }) });
      assert.ok(s.body.data.every((m) => m.namespace.user_id !== 'erin'));
      const jobs = (await server.json('/v1/memory/jobs?limit=100')).body.data;
      assert.ok(jobs.every((j) => j.user_id !== 'erin'));
    };
    await check();
    await server.kill9();
    await server.start();
    await check();
    assert.equal((await server.json('/v1/memories?user_id=frank')).body.data.length, 1);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('extraction jobs pending at kill -9 complete after the restart', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    await server.client().responses.create({ model: 'm', input: 'SLOWEXTRACT I collect vintage maps.', safety_identifier: 'gina' });
    for (let i = 0; i < 100; i++) {
      const jobs = (await server.json('/v1/memory/jobs')).body.data;
      if (jobs[0]?.status === 'running') break;
      await sleep(20);
    }
    await server.kill9();
    await server.start();
    const jobs = await jobsSettled(server, 1);
    assert.equal(jobs[0].status, 'done');
    assert.ok(jobs[0].attempts >= 2);
    const mems = (await server.json('/v1/memories?user_id=gina')).body.data;
    assert.deepEqual(mems.map((m) => m.text), ['SLOWEXTRACT I collect vintage maps.']);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('malformed extraction output is retried, then the job fails visibly', async () => {
  await withServer({}, async ({ client, server }) => {
    await client.responses.create({ model: 'm', input: 'MALFORMED I like tea.', safety_identifier: 'hank' });
    const jobs = await jobsSettled(server, 1);
    assert.equal(jobs[0].status, 'failed');
    assert.equal(jobs[0].attempts, 3);
    assert.match(jobs[0].last_error, /JSON/);
    const failed = await server.json('/v1/memory/jobs?status=failed');
    assert.equal(failed.body.data.length, 1);
    assert.equal((await server.json('/v1/memories?user_id=hank')).body.data.length, 0);
  });
});

test('memory API: bad input and other projects', async () => {
  const server = new Server({});
  const other = server.createKey('proj_other');
  await server.start();
  try {
    const w = await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'x is y', user_id: 'u1' }) });
    const cases = [
      ['/v1/memories', 'POST', '{"user_id":"u"}', 400, 'text'],
      ['/v1/memories', 'POST', '{"text":5}', 400, 'text'],
      ['/v1/memories', 'POST', '{"text":"a","kind":"rumour"}', 400, 'kind'],
      ['/v1/memories', 'POST', '{"text":"a","user_id":""}', 400, 'user_id'],
      ['/v1/memories', 'POST', '{"text":"a","metadata":{"k":1}}', 400, 'metadata.k'],
      ['/v1/memories', 'POST', 'not json', 400, null],
      ['/v1/memories/search', 'POST', '{}', 400, 'query'],
      ['/v1/memories/search', 'POST', '{"query":"a","top_k":0}', 400, 'top_k'],
      ['/v1/memories/search', 'POST', '{"query":"a","filters":{"user_id":5}}', 400, 'filters.user_id'],
      ['/v1/memories?limit=1000', 'GET', undefined, 400, 'limit'],
      ['/v1/memories?status=gone', 'GET', undefined, 400, 'status'],
      ['/v1/memory/jobs?status=weird', 'GET', undefined, 400, 'status'],
      ['/v1/memories/mem_nope', 'GET', undefined, 404, null],
      ['/v1/memories/mem_nope', 'DELETE', undefined, 404, null],
      [`/v1/memories/${w.body.id}`, 'PATCH', '{}', 400, 'text'],
    ];
    for (const [path, method, body, status, param] of cases) {
      const r = await server.json(path, { method, body });
      assert.equal(r.status, status, `${method} ${path} ${body}: ${JSON.stringify(r.body)}`);
      assert.ok(r.body.error, path);
      if (param) assert.equal(r.body.error.param, param, path);
    }
    for (const [path, method] of [[`/v1/memories/${w.body.id}`, 'GET'], [`/v1/memories/${w.body.id}/history`, 'GET'], [`/v1/memories/${w.body.id}`, 'DELETE'], [`/v1/memories/${w.body.id}`, 'PATCH']]) {
      const r = await server.json(path, { method, key: other, body: method === 'PATCH' ? '{"text":"hijack"}' : undefined });
      assert.equal(r.status, 404, path);
    }
    const s = await server.json('/v1/memories/search', { method: 'POST', key: other, body: JSON.stringify({ query: 'x is y' }) });
    assert.equal(s.body.data.length, 0);
    assert.equal((await server.json(`/v1/memories/${w.body.id}`)).body.text, 'x is y');
    assert.equal((await fetch(server.base + '/v1/memories')).status, 401);
  } finally {
    await server.stop();
    server.cleanup();
  }
});

test('built-in memory tools run server-side inside the run', async () => {
  await withServer({}, async ({ client, server, upstream }) => {
    const w = await client.responses.create({ model: 'm', input: 'USE_MEMORY_WRITE Ivan prefers window seats', tools: [{ type: 'memory' }], safety_identifier: 'ivan', memory: 'auto' });
    assert.equal(w.status, 'completed');
    assert.deepEqual(w.output.map((o) => o.type), ['memory_call', 'message']);
    assert.equal(w.output[0].name, 'memory_write');
    assert.match(w.output[0].output, /remembered/);
    assert.match(w.output_text, /tool said: .*remembered/);
    assert.deepEqual(w.tools, [{ type: 'memory' }]);
    // The write is readable at once, with the run as its provenance.
    const mems = (await server.json('/v1/memories?user_id=ivan')).body.data;
    const written = mems.find((m) => m.source.type === 'tool');
    assert.equal(written.text, 'Ivan prefers window seats');
    assert.equal(written.source.response_id, w.id);
    // The second model call saw the call and its result as tool messages.
    const second = upstream.requests.filter((r) => !r.body.response_format).at(-1).body.messages;
    assert.equal(second.at(-2).tool_calls[0].function.name, 'memory_write');
    assert.equal(second.at(-1).role, 'tool');

    const s = await client.responses.create({ model: 'm', input: 'USE_MEMORY_SEARCH window seats', tools: [{ type: 'memory' }], safety_identifier: 'ivan', stream: false });
    assert.equal(s.output[0].name, 'memory_search');
    assert.match(s.output[0].output, /window seats/);
    // Another user's search does not see Ivan's memory.
    const other = await client.responses.create({ model: 'm', input: 'USE_MEMORY_SEARCH window seats', tools: [{ type: 'memory' }], safety_identifier: 'judy' });
    assert.doesNotMatch(other.output[0].output, /window/);
    // Streaming: the SDK accumulator accepts memory_call items.
    const final = await client.responses.stream({ model: 'm', input: 'USE_MEMORY_SEARCH seats', tools: [{ type: 'memory' }], safety_identifier: 'ivan' }).finalResponse();
    assert.equal(final.output[0].type, 'memory_call');
    assert.equal(final.output.at(-1).type, 'message');
    // Chains replay memory calls to the model as tool messages.
    await client.responses.create({ model: 'm', input: 'and then?', previous_response_id: s.id, safety_identifier: 'ivan' });
    const msgs = upstream.requests.filter((r) => !r.body.response_format).at(-1).body.messages;
    assert.ok(msgs.some((m) => m.role === 'tool' && /window seats/.test(m.content)));
    // Memory tools need a user.
    await assert.rejects(client.responses.create({ model: 'm', input: 'x', tools: [{ type: 'memory' }] }), (e) => e.status === 400 && e.param === 'tools');
  });
});

test('an OpenAI-compatible /embeddings upstream supplies the vectors when configured', async () => {
  await withServer({ env: { CONTINUUM_EMBEDDINGS_MODEL: 'fake-embed' } }, async ({ server, upstream }) => {
    await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Kim owns a kitten named Miso.', user_id: 'kim' }) });
    await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Kim works as a carpenter.', user_id: 'kim' }) });
    const calls = upstream.requests.filter((r) => r.embeddings);
    assert.equal(calls.length, 2);
    assert.equal(calls[0].body.model, 'fake-embed');
    assert.equal(calls[0].body.input, 'Kim owns a kitten named Miso.');
    // No word in common with the record: only the upstream's vectors can find it.
    const s = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'pet', top_k: 1, filters: { user_id: 'kim' } }) });
    assert.equal(s.body.data[0].text, 'Kim owns a kitten named Miso.');
  });
});

test('a request acting for a user sees only that user\'s memories', async () => {
  await withServer({}, async ({ server }) => {
    const mine = await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Lea plays the cello.', user_id: 'lea' }) });
    const id = mine.body.id;
    for (const [path, method, body] of [[`/v1/memories/${id}`, 'GET'], [`/v1/memories/${id}/history`, 'GET'], [`/v1/memories/${id}`, 'PATCH', '{"text":"x"}'], [`/v1/memories/${id}`, 'DELETE']]) {
      const asOther = await server.json(path, { method, body, headers: { 'x-continuum-user': 'mallory' } });
      assert.equal(asOther.status, 404, `${method} ${path}`);
      const byQuery = await server.json(path + '?user_id=mallory', { method, body });
      assert.equal(byQuery.status, 404, `${method} ${path}?user_id`);
    }
    const asOwner = await server.json(`/v1/memories/${id}`, { headers: { 'x-continuum-user': 'lea' } });
    assert.equal(asOwner.body.text, 'Lea plays the cello.');
  });
});

test('extraction prompt and strategies are configurable', async () => {
  const file = configFile('[memory]\nextraction_prompt = "Only remember pets."\npreferences = false\n');
  await withServer({ args: ['--config', file] }, async ({ client, server, upstream }) => {
    await client.responses.create({ model: 'm', input: 'I have a dog. I prefer tea.', safety_identifier: 'nora' });
    await jobsSettled(server, 1);
    const ex = upstream.requests.find((r) => r.body.response_format?.json_schema?.name === 'memory_extraction');
    assert.deepEqual(ex.body.messages[0], { role: 'system', content: 'Only remember pets.' });
    assert.match(ex.body.messages[1].content, /Do not extract preferences/);
    const mems = (await server.json('/v1/memories?user_id=nora')).body.data;
    assert.deepEqual(mems.map((m) => m.kind), ['fact']);
  });
});

test('agent-scoped preferences stay with their agent; facts follow the user; summaries stay in their session', async () => {
  const file = configFile('[memory]\npreferences_scope = "agent"\n');
  await withServer({ args: ['--config', file] }, async ({ server, upstream }) => {
    const turn = (agent, input, extra = {}) => server.json('/v1/responses', {
      method: 'POST',
      headers: { 'x-continuum-user': 'otto', ...(agent ? { 'x-continuum-agent': agent } : {}) },
      body: JSON.stringify({ model: 'm', input, ...extra }),
    });
    const sent = () => JSON.stringify(chatTurns(upstream).at(-1).body.messages);
    const conv = (await server.json('/v1/conversations', { method: 'POST', body: '{}' })).body.id;
    assert.equal((await turn('chef', 'I am vegetarian. I prefer spicy food.', { conversation: conv })).status, 200);
    await jobsSettled(server, 1);
    const mems = (await server.json('/v1/memories?user_id=otto')).body.data;
    const pref = mems.find((m) => m.kind === 'preference');
    const fact = mems.find((m) => m.kind === 'fact');
    const summary = mems.find((m) => m.kind === 'summary');
    assert.equal(pref.namespace.agent_id, 'chef');
    assert.equal(fact.namespace.agent_id, null);
    assert.equal(summary.namespace.session_id, conv);

    // The same agent, a new conversation: the fact and its own preference, not the summary.
    await turn('chef', 'What spicy vegetarian dinner tonight?');
    assert.match(sent(), /I prefer spicy food/);
    assert.match(sent(), /I am vegetarian/);
    assert.doesNotMatch(sent(), /Summary: /);
    // Another agent: only the user-level fact.
    await turn('travel', 'Any spicy vegetarian food on the flight?');
    assert.match(sent(), /I am vegetarian/);
    assert.doesNotMatch(sent(), /spicy food\./);
    // Back in the first conversation, its summary is in the context.
    await turn('chef', 'Spicy vegetarian dinner again?', { conversation: conv });
    assert.match(sent(), /Summary: I am vegetarian/);

    const bad = await turn('x'.repeat(300), 'hello');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'X-Continuum-Agent');
  });
});

test('a user\'s HNSW index is saved when built and caught up after kill -9', async () => {
  const upstream = await startFakeUpstream();
  const file = configFile('[memory.index]\nhnsw_threshold = 40\n');
  const server = new Server({ upstream, args: ['--config', file] });
  await server.start();
  const write = (text) => server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text, user_id: 'ivy' }) });
  const search = async (query, top_k = 5) =>
    (await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query, top_k, filters: { user_id: 'ivy' } }) })).body.data;
  try {
    const ids = [];
    for (let i = 0; i < 50; i++) ids.push((await write(`Ivy noted star chart ${i} about astronomy`)).body.id);
    assert.equal((await search('star chart astronomy')).length, 5);  // builds the index, and saves it
    await server.waitLog(/memory index built: 50 vectors/);
    assert.match(server.log, /memory index built: 50 vectors/);
    // Changes after the save, then a crash: nothing saves at shutdown.
    const kayak = (await write('Ivy owns a red kayak')).body.id;
    assert.equal((await server.json(`/v1/memories/${ids[7]}`, { method: 'DELETE' })).status, 200);
    await server.kill9();
    server.log = '';
    await server.start();
    for (let i = 0; i < 100 && !/memory index loaded from disk/.test(server.log); i++) await sleep(50);  // warmed at start-up
    assert.match(server.log, /memory index loaded from disk: 50 vectors, 2 brought up to date/);
    assert.equal((await search('red kayak', 1))[0].id, kayak);
    const all = await search('Ivy noted star chart 7 about astronomy', 50);
    assert.ok(all.length > 10);
    assert.ok(!all.some((m) => m.id === ids[7]));
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('changed HNSW indexes are saved periodically, so kill -9 leaves nothing to catch up', async () => {
  const upstream = await startFakeUpstream();
  const file = configFile('[memory.index]\nhnsw_threshold = 40\nsave_interval_s = 1\n');
  const server = new Server({ upstream, args: ['--config', file] });
  await server.start();
  const write = (text) => server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text, user_id: 'jo' }) });
  try {
    for (let i = 0; i < 45; i++) await write(`Jo logged bird sighting ${i} near the lake`);
    const q = { method: 'POST', body: JSON.stringify({ query: 'bird sighting', filters: { user_id: 'jo' } }) };
    assert.equal((await server.json('/v1/memories/search', q)).status, 200);  // builds and saves
    const heron = (await write('Jo saw a grey heron')).body.id;
    await sleep(2500);  // a periodic save
    await server.kill9();
    server.log = '';
    await server.start();
    for (let i = 0; i < 100 && !/memory index loaded from disk/.test(server.log); i++) await sleep(50);
    assert.match(server.log, /memory index loaded from disk: 46 vectors, 0 brought up to date/);
    const s = await server.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'grey heron', top_k: 1, filters: { user_id: 'jo' } }) });
    assert.equal(s.body.data[0].id, heron);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('memory and limit settings out of range stop the server at start-up, naming the key', () => {
  for (const [toml, key] of [['[memory.index]\nm = 200\n', 'memory.index.m'],
                             ['[memory]\nfacts_scope = "team"\n', 'memory.facts_scope'],
                             ['[memory.index]\nbudget_mib = 1\n', 'memory.index.budget_mib'],
                             ['[limits]\ntool_timeout_ms = 0\n', 'limits.tool_timeout_ms']]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-bad-'));
    const r = spawnSync(BIN, ['serve', '--config', configFile(toml), '--data', dir, '--listen', '127.0.0.1:0'], { timeout: 10000 });
    assert.equal(r.status, 2, toml);
    assert.match(r.stderr.toString() + r.stdout.toString(), new RegExp(key.replaceAll('.', '\\.')));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
