// An agent's limits, memory settings and policy set: a token budget shared by a team (the child
// runs of agents called as tools spend from their parent's), a time limit, cancellation that
// reaches child runs, per-agent memory (inject, learn, strategies and their scopes) — through the
// agent definition and through a request's own "memory" field — and the agent's own policies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, sleep, jobsSettled } from './harness.mjs';

const post = (server, p, body, init = {}) => server.json(p, { method: 'POST', body: JSON.stringify(body), ...init });
const chats = (upstream, from = 0) => upstream.requests.slice(from).filter((q) => !q.embeddings && !q.body.response_format);

test('a token budget spans the team: a child run spends from its parent\'s, and the run stops when it is gone', async () => {
  await withServer({}, async ({ server, upstream, client }) => {
    await post(server, '/v1/agents', { name: 'researcher', model: 'm-research' });
    // Every fake model call costs 18 tokens. 30 leaves room for the lead's first call and the
    // researcher's, not for the lead's second.
    const lead = await post(server, '/v1/agents', { name: 'lead', model: 'm-lead', max_total_tokens: 30, tools: [{ type: 'agent', agent: 'researcher' }] });
    assert.equal(lead.status, 200, JSON.stringify(lead.body));
    assert.equal(lead.body.definition?.max_total_tokens ?? lead.body.max_total_tokens, 30);
    let from = upstream.requests.length;
    const r = await client.responses.create({ model: 'agent:lead', input: 'MCP_CALL ask_researcher {"input":"dig"}' });
    assert.deepEqual(chats(upstream, from).map((q) => q.body.model), ['m-lead', 'm-research']);
    assert.equal(r.status, 'incomplete');
    assert.equal(r.incomplete_details.reason, 'max_total_tokens');
    const call = r.output.find((o) => o.type === 'agent_call');
    assert.equal(call.status, 'completed');
    assert.equal(JSON.parse(call.output).output, 'echo: dig');

    // A budget spent before the child starts: the child makes no model call at all.
    await post(server, '/v1/agents', { name: 'lead', model: 'm-lead', max_total_tokens: 10, tools: [{ type: 'agent', agent: 'researcher' }] });
    from = upstream.requests.length;
    const tight = await client.responses.create({ model: 'agent:lead', input: 'MCP_CALL ask_researcher {"input":"dig"}' });
    assert.deepEqual(chats(upstream, from).map((q) => q.body.model), ['m-lead']);
    assert.equal(tight.incomplete_details.reason, 'max_total_tokens');
    const kid = JSON.parse(tight.output.find((o) => o.type === 'agent_call').output);
    const child = await server.json(`/v1/responses/${kid.response_id}`);
    assert.equal(child.body.status, 'incomplete');
    assert.equal(child.body.incomplete_details.reason, 'max_total_tokens');

    // Without a budget the same turn runs to its answer.
    await post(server, '/v1/agents', { name: 'lead', model: 'm-lead', tools: [{ type: 'agent', agent: 'researcher' }] });
    const free = await client.responses.create({ model: 'agent:lead', input: 'MCP_CALL ask_researcher {"input":"dig"}' });
    assert.equal(free.status, 'completed');

    // Limits are validated.
    for (const [field, value] of [['max_total_tokens', 0], ['max_total_tokens', 'many'], ['max_run_seconds', 86401], ['max_run_seconds', -1]]) {
      const bad = await post(server, '/v1/agents', { name: 'x', model: 'm', [field]: value });
      assert.equal(bad.status, 400, `${field}=${value}`);
      assert.equal(bad.body.error.param, field);
    }
  });
});

test('a time limit ends the run; cancelling a parent cancels its child run', async () => {
  await withServer({}, async ({ server, client }) => {
    await post(server, '/v1/agents', { name: 'hasty', model: 'm', max_run_seconds: 1 });
    const began = Date.now();
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'agent:hasty', input: 'SLOW please' }) });
    // SLOW takes two seconds; the agent has one.
    assert.ok(Date.now() - began < 1900, `took ${Date.now() - began} ms`);
    assert.ok(r.status >= 500 || r.body.status === 'failed', JSON.stringify(r.body));
    assert.match(JSON.stringify(r.body), /deadline/);

    await post(server, '/v1/agents', { name: 'slowpoke', model: 'm-slow' });
    await post(server, '/v1/agents', { name: 'boss', model: 'm-boss', tools: [{ type: 'agent', agent: 'slowpoke' }] });
    const parent = await client.responses.create({ model: 'agent:boss', input: 'MCP_CALL ask_slowpoke {"input":"SLOW work"}', background: true });
    let child;
    for (let i = 0; i < 100 && !child; i++) {
      const list = (await server.json('/v1/responses?limit=20')).body.data;
      child = list.find((x) => x.agent?.name === 'slowpoke' && x.status === 'in_progress');
      if (!child) await sleep(30);
    }
    assert.ok(child, 'the child run is listed while it runs');
    assert.equal(child.parent_response_id, parent.id);
    await client.responses.cancel(parent.id);
    let after;
    for (let i = 0; i < 100; i++) {
      after = (await server.json(`/v1/responses/${child.id}`)).body;
      if (after.status !== 'in_progress') break;
      await sleep(30);
    }
    assert.equal(after.status, 'cancelled');
    assert.equal((await client.responses.retrieve(parent.id)).status, 'cancelled');
  });
});

test('an agent\'s memory settings: inject, learn, and the scope of each strategy; a request may set its own', async () => {
  await withServer({}, async ({ server, upstream, client }) => {
    const user = { headers: { 'x-continuum-user': 'ada' } };
    // Facts kept for this agent only; preferences and summaries not kept at all.
    const scribe = await post(server, '/v1/agents', { name: 'scribe', model: 'm', memory: { strategies: { facts: 'agent', preferences: 'off', summary: false } } });
    assert.equal(scribe.status, 200, JSON.stringify(scribe.body));
    await client.responses.create({ model: 'agent:scribe', input: 'I live in Lisbon. I prefer short answers.' }, user);
    await jobsSettled(server, 1);
    const kept = (await server.json('/v1/memories?user_id=ada')).body.data;
    assert.deepEqual(kept.map((m) => [m.text, m.kind, m.namespace.agent_id]), [['I live in Lisbon.', 'fact', 'scribe']]);
    const extraction = upstream.requests.find((q) => q.body.response_format?.json_schema?.name === 'memory_extraction');
    assert.match(JSON.stringify(extraction.body.messages), /Do not extract preferences/);

    // The fact is the scribe's: placed into its context, not into another agent's.
    await post(server, '/v1/agents', { name: 'other', model: 'm' });
    await client.responses.create({ model: 'agent:scribe', input: 'Where do I live?' }, user);
    assert.match(JSON.stringify(chats(upstream).at(-1).body.messages), /Lisbon/);
    await client.responses.create({ model: 'agent:other', input: 'Where do I live?' }, user);
    assert.doesNotMatch(JSON.stringify(chats(upstream).at(-1).body.messages), /Lisbon/);

    // inject: false — records are not placed into the context; learn: false — nothing is extracted.
    await post(server, '/v1/agents', { name: 'scribe', model: 'm', memory: { inject: false, learn: false, strategies: { facts: 'agent' } } });
    const jobsBefore = (await server.json('/v1/memory/jobs?limit=100')).body.data.length;
    await client.responses.create({ model: 'agent:scribe', input: 'Where do I live? I own a boat.' }, user);
    assert.doesNotMatch(JSON.stringify(chats(upstream).at(-1).body.messages), /Lisbon/);
    await sleep(200);
    assert.equal((await server.json('/v1/memory/jobs?limit=100')).body.data.length, jobsBefore);

    // The same settings through a plain request's own "memory" field.
    await client.responses.create({ model: 'm', input: 'I have a cat.', memory: { strategies: { facts: 'session', preferences: false } } }, user);
    await jobsSettled(server, jobsBefore + 1);
    const cat = (await server.json('/v1/memories?user_id=ada')).body.data.find((m) => /cat/.test(m.text));
    assert.ok(cat, 'the fact was extracted');
    await client.responses.create({ model: 'm', input: 'I have a dog.', memory: { learn: false } }, user);
    await sleep(200);
    assert.equal((await server.json('/v1/memory/jobs?limit=100')).body.data.length, jobsBefore + 1);

    // A request's memory off wins over the agent's settings.
    await post(server, '/v1/agents', { name: 'scribe', model: 'm', memory: { strategies: { facts: 'agent' } } });
    await client.responses.create({ model: 'agent:scribe', input: 'Where do I live?', memory: 'off' }, user);
    assert.doesNotMatch(JSON.stringify(chats(upstream).at(-1).body.messages), /Lisbon/);

    // Bad settings name the field, in the definition and in a request.
    for (const [memory, param] of [[{ strategies: { facts: 'planet' } }, 'memory.strategies.facts'], [{ inject: 'yes' }, 'memory.inject'],
      [{ strategies: { moods: 'user' } }, 'memory.strategies.moods'], [{ remember: true }, 'memory.remember'], [42, 'memory']]) {
      const a = await post(server, '/v1/agents', { name: 'bad', model: 'm', memory });
      assert.equal(a.status, 400, JSON.stringify(memory));
      assert.equal(a.body.error.param, param);
      const q = await post(server, '/v1/responses', { model: 'm', input: 'x', memory });
      assert.equal(q.status, 400, JSON.stringify(memory));
      assert.equal(q.body.error.param, param);
    }
  });
});

test('an agent\'s own policy set decides its calls, together with the project\'s', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const user = { headers: { 'x-continuum-user': 'ivy' } };
    const guarded = await post(server, '/v1/agents', {
      name: 'guarded', model: 'm', tools: [{ type: 'memory' }],
      policies: 'permit (principal, action, resource);\n@id("no-search")\nforbid (principal, action, resource == Tool::"memory_search");',
    });
    assert.equal(guarded.status, 200, JSON.stringify(guarded.body));
    await post(server, '/v1/agents', { name: 'open', model: 'm', tools: [{ type: 'memory' }] });
    const denied = await client.responses.create({ model: 'agent:guarded', input: 'USE_MEMORY_SEARCH seats' }, user);
    const call = denied.output.find((o) => o.name === 'memory_search');
    assert.equal(call.status, 'failed', JSON.stringify(call));
    assert.match(JSON.stringify(call), /forbidden by agent 'guarded' policy no-search/);
    assert.match(JSON.stringify(chats(upstream).at(-1).body.messages.at(-1)), /denied/, 'the model is told');
    const allowed = await client.responses.create({ model: 'agent:open', input: 'USE_MEMORY_SEARCH seats' }, user);
    assert.equal(allowed.output.find((o) => o.name === 'memory_search').status, 'completed');
    // The project's set applies too: it may deny what the agent's allows.
    await server.json('/v1/policies', { method: 'PUT', body: JSON.stringify({ policies: 'forbid (principal, action, resource) when { context.agent == "open" };\npermit (principal, action, resource);' }) });
    const both = await client.responses.create({ model: 'agent:open', input: 'USE_MEMORY_SEARCH seats' }, user);
    assert.equal(both.output.find((o) => o.name === 'memory_search').status, 'failed');
    // A pinned version keeps the policy set it was made with.
    await post(server, '/v1/agents', { name: 'guarded', model: 'm', tools: [{ type: 'memory' }] });
    const v1 = await client.responses.create({ model: 'agent:guarded@v1', input: 'USE_MEMORY_SEARCH seats' }, user);
    assert.equal(v1.output.find((o) => o.name === 'memory_search').status, 'failed');
    const v2 = await client.responses.create({ model: 'agent:guarded', input: 'USE_MEMORY_SEARCH seats' }, user);
    assert.equal(v2.output.find((o) => o.name === 'memory_search').status, 'completed');
    // A policy that does not parse is a 400 naming the field.
    const bad = await post(server, '/v1/agents', { name: 'guarded', model: 'm', policies: 'permit (principal, action' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'policies');
    assert.match(bad.body.error.message, /line 1/);
  });
});
