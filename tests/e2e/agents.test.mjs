// Agents as versioned objects: definitions, immutable versions, movable aliases and rollback;
// requests through the official SDK as "agent:NAME[@ALIAS]"; handoffs inside one run; manifests
// read from a directory at start-up; errors and isolation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Server, withServer } from './harness.mjs';

const support = (instructions, model = 'm-support') => ({
  name: 'support', model, instructions, description: 'Answers customers.',
  tools: [{ type: 'function', name: 'lookup_order', parameters: { type: 'object', properties: { id: { type: 'string' } } } }],
  max_tool_calls: 3, metadata: { team: 'cx' },
});
const post = (server, p, body, init = {}) => server.json(p, { method: 'POST', body: JSON.stringify(body), ...init });
const systemOf = (req) => req.body.messages.filter((m) => m.role === 'system' || m.role === 'developer').map((m) => m.content).join('\n');

test('agents: versions, aliases, rollback, and requests through the SDK', async () => {
  await withServer({}, async ({ server, upstream, client }) => {
    const v1 = await post(server, '/v1/agents', support('You are support v1.'));
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    assert.equal(v1.body.version, 1);
    assert.equal(v1.body.definition.model, 'm-support');
    // The same document again makes no new version.
    assert.equal((await post(server, '/v1/agents', support('You are support v1.'))).body.version, 1);
    const v2 = await post(server, '/v1/agents', support('You are support v2.', 'm-support-2'));
    assert.equal(v2.body.version, 2);
    assert.equal((await post(server, '/v1/agents/support/aliases/prod', { version: 1 })).status, 200);

    const ask = async (model, input = 'hello') => {
      const r = await client.responses.create({ model, input, instructions: 'Be brief.' });
      const req = upstream.requests.at(-1);
      return { r, req };
    };
    // The alias, the latest, and an exact version.
    let { r, req } = await ask('agent:support@prod');
    assert.equal(req.body.model, 'm-support');
    assert.match(systemOf(req), /You are support v1\.\s+Be brief\./);
    assert.ok(req.body.tools.some((t) => t.function.name === 'lookup_order'), 'the agent\'s tools are offered');
    assert.deepEqual(r.agent, { name: 'support', version: 1, requested: 'support@prod' });
    assert.equal(r.model, 'm-support');
    assert.equal(r.instructions, 'Be brief.', 'the response shows the request\'s instructions, never the agent\'s');
    ({ r, req } = await ask('agent:support'));
    assert.equal(req.body.model, 'm-support-2');
    assert.equal(r.agent.version, 2);
    ({ req } = await ask('agent:support@v1'));
    assert.match(systemOf(req), /support v1/);
    // Deploy: move prod to 2; roll back: move it to 1 again.
    await post(server, '/v1/agents/support/aliases/prod', { version: 2 });
    ({ r } = await ask('agent:support@prod'));
    assert.equal(r.agent.version, 2);
    await post(server, '/v1/agents/support/aliases/prod', { version: 1 });
    ({ r } = await ask('agent:support@prod'));
    assert.equal(r.agent.version, 1);
    // The stored response remembers which agent and version answered.
    const stored = await client.responses.retrieve(r.id);
    assert.deepEqual(stored.agent, r.agent);
    // A chain continues as the agent.
    const next = await client.responses.create({ model: 'agent:support@prod', input: 'more', previous_response_id: r.id });
    assert.equal(next.agent.version, 1);

    // Reading: the list, one agent, its versions, a version.
    const list = await server.json('/v1/agents');
    assert.deepEqual(list.body.data.map((a) => [a.name, a.latest_version, a.aliases.prod]), [['support', 2, 1]]);
    assert.equal((await server.json('/v1/agents/support/versions')).body.data.length, 2);
    assert.equal((await server.json('/v1/agents/support?version=1')).body.definition.instructions, 'You are support v1.');

    // Errors: unknown agent, alias or version; bad documents; aliases to nowhere.
    await assert.rejects(client.responses.create({ model: 'agent:nobody', input: 'x' }), (e) => e.status === 404);
    await assert.rejects(client.responses.create({ model: 'agent:support@canary', input: 'x' }), (e) => e.status === 404 && /alias 'canary'/.test(e.message));
    await assert.rejects(client.responses.create({ model: 'agent:support@v9', input: 'x' }), (e) => e.status === 404);
    for (const [body, param] of [
      [{ name: 'x' }, 'model'], [{ model: 'm' }, 'name'], [{ name: 'bad name', model: 'm' }, 'name'],
      [{ name: 'x', model: 'agent:y' }, 'model'], [{ name: 'x', model: 'm', tools: [{}] }, 'tools[0]'],
      [{ name: 'x', model: 'm', handoffs: ['x'] }, 'handoffs'], [{ name: 'x', model: 'm', surprise: 1 }, 'surprise'],
      [{ name: 'x', model: 'm', max_tool_calls: 0 }, 'max_tool_calls'],
    ]) {
      const bad = await post(server, '/v1/agents', body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.body.error.param, param, JSON.stringify(bad.body));
    }
    assert.equal((await post(server, '/v1/agents/support/aliases/prod', { version: 7 })).status, 404);
    assert.equal((await post(server, '/v1/agents/support/aliases/latest', { version: 1 })).status, 400);
    assert.equal((await server.fetch('/v1/agents', { method: 'POST', body: '{"oops' })).status, 400);
    // The header naming another agent than the model is a contradiction.
    const clash = await post(server, '/v1/responses', { model: 'agent:support', input: 'x' }, { headers: { 'x-continuum-agent': 'other' } });
    assert.equal(clash.status, 400);

    // Writing needs admin; another project sees nothing.
    const worker = (await post(server, '/v1/admin/keys', { name: 'w', scopes: ['responses'] })).body.value;
    assert.equal((await post(server, '/v1/agents', support('x'), { key: worker })).status, 403);
    assert.equal((await server.json('/v1/agents', { key: worker })).status, 200, 'reading needs only responses');
    const other = server.createKey('proj_agents_other');
    assert.deepEqual((await server.json('/v1/agents', { key: other })).body.data, []);
    assert.equal((await post(server, '/v1/responses', { model: 'agent:support', input: 'x' }, { key: other })).status, 404);

    // Deleting an alias, then the agent.
    assert.equal((await server.json('/v1/agents/support/aliases/prod', { method: 'DELETE' })).status, 200);
    await assert.rejects(client.responses.create({ model: 'agent:support@prod', input: 'x' }), (e) => e.status === 404);
    assert.equal((await server.json('/v1/agents/support', { method: 'DELETE' })).status, 200);
    assert.equal((await server.json('/v1/agents/support')).status, 404);
    const audit = await server.json('/v1/admin/audit?action=agent.alias');
    assert.ok(audit.body.data.length >= 3);
  });
});

test('agents: a handoff switches the running agent within the run; a handoff to a removed agent fails as a call', async () => {
  await withServer({}, async ({ server, upstream, client }) => {
    await post(server, '/v1/agents', { name: 'billing', model: 'm-billing', instructions: 'You are billing.', description: 'Refunds and invoices.' });
    const triage = await post(server, '/v1/agents', { name: 'triage', model: 'm-triage', instructions: 'You route.', handoffs: ['billing'] });
    assert.equal(triage.status, 200, JSON.stringify(triage.body));
    const before = upstream.requests.length;
    const r = await client.responses.create({ model: 'agent:triage', input: 'MCP_CALL transfer_to_billing {}' });
    const calls = upstream.requests.slice(before).filter((q) => !q.embeddings && !q.body.response_format);
    assert.equal(calls.length, 2, 'the triage agent, then billing');
    assert.equal(calls[0].body.model, 'm-triage');
    const offered = calls[0].body.tools.find((t) => t.function.name === 'transfer_to_billing');
    assert.match(offered.function.description, /Refunds and invoices/);
    assert.equal(calls[1].body.model, 'm-billing');
    assert.match(systemOf(calls[1]), /You are billing/);
    assert.ok(!systemOf(calls[1]).includes('You route.'));
    // The second call sees the handoff in its context.
    assert.ok(calls[1].body.messages.some((m) => m.role === 'tool' && /billing/.test(m.content)));
    const hand = r.output.find((o) => o.type === 'agent_handoff');
    assert.equal(hand.agent, 'billing');
    assert.equal(hand.status, 'completed');
    assert.equal(hand.name, 'transfer_to_billing');
    assert.equal(r.output.at(-1).type, 'message');
    assert.deepEqual(r.agent, { name: 'triage', version: 1, requested: 'triage' });
    // The item is stored with the response and listed with its input items' chain.
    const stored = await client.responses.retrieve(r.id);
    assert.equal(stored.output.find((o) => o.type === 'agent_handoff').agent, 'billing');

    // A handoff to an agent that no longer exists fails as a call; the run stays with triage.
    await server.json('/v1/agents/billing', { method: 'DELETE' });
    const after = await client.responses.create({ model: 'agent:triage', input: 'MCP_CALL transfer_to_billing {}' });
    const failed = after.output.find((o) => o.type === 'agent_handoff');
    assert.equal(failed.status, 'failed');
    assert.equal(upstream.requests.at(-1).body.model, 'm-triage');
  });
});

test('agents: manifests in a directory become versions at start-up, idempotently', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-agents-'));
  const write = (instructions) => fs.writeFileSync(path.join(dir, 'helper.yaml'), [
    'name: helper', 'model: m-helper', `instructions: "${instructions}"`, 'aliases: [prod]', 'memory: off',
    'tools:', '  - type: function', '    name: ping', 'metadata:', '  owner: platform', ''].join('\n'));
  write('Help v1.');
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
  const server = new Server({ args: ['--agents', dir] });
  try {
    await server.start();
    let a = await server.json('/v1/agents/helper');
    assert.equal(a.status, 200, server.log);
    assert.equal(a.body.version, 1);
    assert.equal(a.body.source, 'manifest:helper.yaml');
    assert.equal(a.body.aliases.prod, 1);
    assert.equal(a.body.definition.memory, false);
    await server.stop();
    await server.start();  // unchanged: no new version
    assert.equal((await server.json('/v1/agents/helper')).body.version, 1);
    await server.stop();
    write('Help v2.');
    await server.start();
    a = await server.json('/v1/agents/helper');
    assert.equal(a.body.version, 2);
    assert.equal(a.body.aliases.prod, 2);
    await server.stop();
    // A bad manifest stops start-up, naming the file and the field.
    fs.writeFileSync(path.join(dir, 'broken.yaml'), 'name: broken\n');
    const bad = new Server({ args: ['--agents', dir], dataDir: server.dataDir });
    await assert.rejects(bad.start());
    assert.match(bad.log, /broken\.yaml \(model\)/);
  } finally {
    await server.stop();
    server.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('agents: kill -9 after a handoff, while the agent handed to is answering: the run resumes as that agent', async () => {
  const { startFakeUpstream } = await import('./fake-upstream.mjs');
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    await post(server, '/v1/agents', { name: 'billing', model: 'm-billing', instructions: 'You are billing.' });
    await post(server, '/v1/agents', { name: 'triage', model: 'm-triage', instructions: 'You route.', handoffs: ['billing'] });
    const bg = await post(server, '/v1/responses', { model: 'agent:triage', input: 'MCP_CALL transfer_to_billing {} SLOW', background: true });
    assert.equal(bg.status, 200, JSON.stringify(bg.body));
    // Wait until billing is streaming its answer, then kill the server.
    for (let i = 0; i < 400 && !upstream.requests.some((q) => q.body.model === 'm-billing'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(upstream.requests.some((q) => q.body.model === 'm-billing'), 'billing was called');
    await server.kill9();
    const before = upstream.requests.length;
    await server.start();
    let body;
    for (let i = 0; i < 400; i++) {
      body = (await server.json(`/v1/responses/${bg.body.id}`)).body;
      if (!['queued', 'in_progress'].includes(body.status)) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(body.status, 'completed', JSON.stringify(body));
    const handoffs = body.output.filter((o) => o.type === 'agent_handoff');
    assert.equal(handoffs.length, 1, JSON.stringify(body.output));
    assert.equal(handoffs[0].agent, 'billing');
    assert.equal(body.output.at(-1).type, 'message');
    const resumed = upstream.requests.slice(before).filter((q) => !q.embeddings && !q.body.response_format).map((q) => q.body.model);
    assert.deepEqual(resumed, ['m-triage', 'm-billing'], 'the model is asked again from the start of the turn, and the run goes on as billing');
    await server.waitLog(/resuming interrupted response/);
    assert.match(server.log, /resuming interrupted response/);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});

test('agents: an agent calls another as a tool, in a child run linked to its parent', async () => {
  await withServer({}, async ({ server, upstream, client }) => {
    await post(server, '/v1/agents', { name: 'researcher', model: 'm-research', instructions: 'You research.', description: 'Finds facts.' });
    const lead = await post(server, '/v1/agents', { name: 'lead', model: 'm-lead', instructions: 'You lead.', tools: [{ type: 'agent', agent: 'researcher' }] });
    assert.equal(lead.status, 200, JSON.stringify(lead.body));
    const before = upstream.requests.length;
    const r = await client.responses.create({ model: 'agent:lead', input: 'secret context. MCP_CALL ask_researcher {"input":"find the capital"}' }, { headers: { 'x-continuum-user': 'ada' } });
    const calls = upstream.requests.slice(before).filter((q) => !q.embeddings && !q.body.response_format);
    assert.deepEqual(calls.map((q) => q.body.model), ['m-lead', 'm-research', 'm-lead']);
    const offered = calls[0].body.tools.find((t) => t.function.name === 'ask_researcher');
    assert.match(offered.function.description, /Finds facts/);
    // The callee has its own context: its instructions and the input it was given, nothing else.
    const child = calls[1].body.messages;
    assert.ok(!JSON.stringify(child).includes('secret context'), 'the caller\'s conversation stays with the caller');
    assert.ok(child.some((m) => m.role === 'user' && m.content === 'find the capital'));
    const call = r.output.find((o) => o.type === 'agent_call');
    assert.equal(call.agent, 'researcher');
    assert.equal(call.status, 'completed');
    const out = JSON.parse(call.output);
    assert.equal(out.output, 'echo: find the capital');
    // The child run is a stored response of its own, for the same user, naming its parent.
    const kid = await server.json(`/v1/responses/${out.response_id}?user_id=ada`);
    assert.equal(kid.status, 200, JSON.stringify(kid.body));
    assert.equal(kid.body.parent_response_id, r.id);
    assert.deepEqual(kid.body.agent, { name: 'researcher', version: 1, requested: 'researcher' });
    assert.equal((await server.json(`/v1/responses/${out.response_id}?user_id=bob`)).status, 404);
    // The lead saw the answer.
    assert.ok(calls[2].body.messages.some((m) => m.role === 'tool' && m.content.includes('echo: find the capital')));
    // A callee that does not exist is a failed call the model sees.
    await post(server, '/v1/agents', { name: 'lonely', model: 'm', tools: [{ type: 'agent', agent: 'ghost' }] });
    const g = await client.responses.create({ model: 'agent:lonely', input: 'MCP_CALL ask_ghost {"input":"hello"}' });
    const failed = g.output.find((o) => o.type === 'agent_call');
    assert.equal(failed.status, 'failed');
    assert.match(failed.output, /No agent named 'ghost'/);
  });
});
