// The isolation suite. It discovers every route from the server's own route table
// (/v1/admin/routes), so a new route cannot slip past it: a route without a probe here fails the
// test. Objects of project A (some of end user alice, some of the project itself) are read,
// listed, searched, continued, modified, cancelled and deleted with project B's key and with end
// user bob's token inside project A. Every attempt fails or sees nothing, nothing of A changes,
// and nothing of A reaches the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withServer, sleep, KEY } from './harness.mjs';
import { keyPair, jwks, sign, now } from './jwt.mjs';

const ISS = 'https://idp.isolation.test/', AUD = 'continuum';
const MARK = 'MARK-A-7f3c';  // in every object of project A

// How each route is probed. `object`: the path names one of A's objects -> must be 404 (403 for
// routes the attacker lacks the scope for). `list`: a collection -> may answer, must not show A.
// `create`: a POST whose body may reference A's objects -> must not reach them.
const PROBES = {
  'GET /healthz': { kind: 'public' },
  'GET /readyz': { kind: 'public' },
  'GET /console': { kind: 'public' },
  'GET /console/{asset}': { kind: 'public' },
  'GET /v1/responses': { kind: 'list' },
  'GET /v1/conversations': { kind: 'list' },
  'POST /v1/responses': { kind: 'create' },
  'POST /v1/responses/input_tokens': { kind: 'create' },
  'POST /v1/responses/compact': { kind: 'create' },
  'WS /v1/responses': { kind: 'socket' },
  'GET /v1/models': { kind: 'list' },
  'GET /v1/models/{id}': { kind: 'object', obj: 'response' },
  'POST /v1/embeddings': { kind: 'create' },
  'POST /v1/chat/completions': { kind: 'create' },
  'GET /v1/responses/{id}': { kind: 'object', obj: 'response' },
  'DELETE /v1/responses/{id}': { kind: 'object', obj: 'response' },
  'POST /v1/responses/{id}/cancel': { kind: 'object', obj: 'background' },
  'GET /v1/responses/{id}/input_items': { kind: 'object', obj: 'response' },
  'POST /v1/responses/{id}/steer': { kind: 'object', obj: 'response', body: { input: 'steered by someone else' } },
  'GET /v1/responses/{id}/steers/{steer_id}': { kind: 'object', obj: 'response' },
  'POST /v1/conversations': { kind: 'create' },
  'GET /v1/conversations/{id}': { kind: 'object', obj: 'conversation' },
  'POST /v1/conversations/{id}': { kind: 'object', obj: 'conversation', body: { metadata: { owned: 'yes' } } },
  'DELETE /v1/conversations/{id}': { kind: 'object', obj: 'conversation' },
  'POST /v1/conversations/{id}/items': { kind: 'object', obj: 'conversation', body: { items: [{ role: 'user', content: 'injected' }] } },
  'GET /v1/conversations/{id}/items': { kind: 'object', obj: 'conversation' },
  'GET /v1/conversations/{id}/items/{item}': { kind: 'object', obj: 'conversation' },
  'DELETE /v1/conversations/{id}/items/{item}': { kind: 'object', obj: 'conversation' },
  'POST /v1/memories': { kind: 'create' },
  'GET /v1/memories': { kind: 'list' },
  'GET /v1/memories/{id}': { kind: 'object', obj: 'memory' },
  'PATCH /v1/memories/{id}': { kind: 'object', obj: 'memory', body: { text: 'overwritten' } },
  'DELETE /v1/memories/{id}': { kind: 'object', obj: 'memory' },
  'GET /v1/memories/{id}/history': { kind: 'object', obj: 'memory' },
  'POST /v1/memories/search': { kind: 'create' },
  'DELETE /v1/users/{user_id}/memories': { kind: 'user' },
  'GET /v1/memory/jobs': { kind: 'list' },
  'POST /v1/vault/secrets': { kind: 'create' },
  'GET /v1/vault/secrets': { kind: 'list' },
  'GET /v1/vault/secrets/{id}': { kind: 'object', obj: 'secret' },
  'DELETE /v1/vault/secrets/{id}': { kind: 'object', obj: 'secret' },
  'POST /v1/admin/tenants': { kind: 'create' },
  'GET /v1/admin/tenants': { kind: 'list' },
  'POST /v1/admin/projects': { kind: 'create' },
  'GET /v1/admin/projects': { kind: 'list' },
  'POST /v1/admin/keys': { kind: 'create' },
  'GET /v1/admin/keys': { kind: 'list' },
  'GET /v1/admin/keys/{id}': { kind: 'object', obj: 'key' },
  'POST /v1/admin/keys/{id}/revoke': { kind: 'object', obj: 'key' },
  'DELETE /v1/admin/keys/{id}': { kind: 'object', obj: 'key' },
  'POST /v1/admin/keys/{id}/rotate': { kind: 'object', obj: 'key' },
  'GET /v1/admin/audit': { kind: 'list' },
  'GET /v1/admin/routes': { kind: 'list' },
  'POST /v1/vault/oauth/{provider}/authorize': { kind: 'oauth' },
  'POST /v1/vault/oauth/{provider}/refresh': { kind: 'oauth' },
  'GET /v1/vault/oauth/callback': { kind: 'public' },
  'POST /v1/admin/agents': { kind: 'create' },
  'GET /v1/admin/agents': { kind: 'list' },
  'DELETE /v1/admin/agents/{id}': { kind: 'object', obj: 'agent' },  // no credential: the state is the capability (oauth.test.mjs)
  'GET /v1/policies': { kind: 'list' },
  'PUT /v1/policies': { kind: 'create' },
  'DELETE /v1/policies': { kind: 'create' },
  'POST /v1/policies/evaluate': { kind: 'create' },
  'POST /v1/tool_servers': { kind: 'create' },
  'POST /mcp': { kind: 'create' },
  'GET /mcp': { kind: 'public' },
  'DELETE /mcp': { kind: 'public' },
  'GET /v1/tool_servers': { kind: 'list' },
  'GET /v1/tool_servers/{label}': { kind: 'object', obj: 'tool_server' },
  'DELETE /v1/tool_servers/{label}': { kind: 'object', obj: 'tool_server' },
  'GET /metrics': { kind: 'list' },
  'GET /a2a/{name}/.well-known/agent-card.json': { kind: 'a2a' },
  'POST /a2a/{name}': { kind: 'a2a' },
  'GET /v1/usage': { kind: 'list' },
  'POST /v1/webhooks': { kind: 'create' },
  'POST /v1/schedules': { kind: 'create' },
  'GET /v1/schedules': { kind: 'list' },
  'GET /v1/schedules/{id}': { kind: 'object', obj: 'schedule' },
  'DELETE /v1/schedules/{id}': { kind: 'object', obj: 'schedule' },
  'POST /v1/schedules/{id}/run': { kind: 'object', obj: 'schedule' },
  'GET /v1/webhooks': { kind: 'list' },
  'GET /v1/webhooks/{id}': { kind: 'object', obj: 'webhook' },
  'DELETE /v1/webhooks/{id}': { kind: 'object', obj: 'webhook' },
  'GET /v1/webhooks/{id}/deliveries': { kind: 'object', obj: 'webhook' },
  'POST /v1/agents': { kind: 'create' },
  'GET /v1/agents': { kind: 'list' },
  'GET /v1/agents/{name}': { kind: 'object', obj: 'agent_def' },
  'DELETE /v1/agents/{name}': { kind: 'object', obj: 'agent_def' },
  'GET /v1/agents/{name}/versions': { kind: 'object', obj: 'agent_def' },
  'GET /v1/agents/{name}/export': { kind: 'object', obj: 'agent_def' },
  'POST /v1/agents/import': { kind: 'create' },
  'POST /v1/agents/{name}/aliases/{alias}': { kind: 'object', obj: 'agent_def', body: { version: 1 } },
  'POST /v1/evals': { kind: 'create' },
  'GET /v1/evals': { kind: 'list' },
  'GET /v1/evals/{id}': { kind: 'object', obj: 'eval' },
  'POST /v1/evals/{id}': { kind: 'object', obj: 'eval', body: { name: 'renamed by someone else' } },
  'DELETE /v1/evals/{id}': { kind: 'object', obj: 'eval' },
  'POST /v1/evals/{id}/runs': { kind: 'object', obj: 'eval', body: { data_source: { type: 'responses', source: { type: 'responses' } } } },
  'GET /v1/evals/{id}/runs': { kind: 'object', obj: 'eval' },
  'GET /v1/evals/{id}/runs/{run_id}': { kind: 'object', obj: 'eval' },
  'POST /v1/evals/{id}/runs/{run_id}/cancel': { kind: 'object', obj: 'eval' },
  'DELETE /v1/evals/{id}/runs/{run_id}': { kind: 'object', obj: 'eval' },
  'GET /v1/evals/{id}/runs/{run_id}/output_items': { kind: 'object', obj: 'eval' },
  'GET /v1/evals/{id}/runs/{run_id}/output_items/{item_id}': { kind: 'object', obj: 'eval' },
  'DELETE /v1/agents/{name}/aliases/{alias}': { kind: 'object', obj: 'agent_def' },
  'PUT /v1/agents/{name}/aliases/{alias}/gate': { kind: 'object', obj: 'agent_def', body: { eval_id: 'eval_x', data_source: {} } },
  'PUT /v1/agents/{name}/online_eval': { kind: 'object', obj: 'agent_def', body: { eval_id: 'eval_x', sampling_rate: 1 } },
  'GET /v1/agents/{name}/online_eval': { kind: 'object', obj: 'agent_def' },
  'DELETE /v1/agents/{name}/online_eval': { kind: 'object', obj: 'agent_def' },
  'GET /v1/agents/{name}/aliases/{alias}/gate': { kind: 'object', obj: 'agent_def' },
  'DELETE /v1/agents/{name}/aliases/{alias}/gate': { kind: 'object', obj: 'agent_def' },
};

// Bodies of creating requests that try to reach A's objects.
function createBodies(a) {
  return {
    '/v1/responses': [
      { model: 'm', input: 'what did we say?', previous_response_id: a.response },
      { model: 'm', input: 'what did we say?', conversation: a.conversation },
      { model: 'm', input: 'what did we say?', previous_response_id: a.projResponse },
      { model: 'm', input: 'what did we say?', conversation: a.projConversation },
      { model: `agent:${a.agentDef}@prod`, input: 'who are you?' },
      { model: 'm', input: [{ type: 'item_reference', id: a.item }] },
      { model: 'm', input: [{ type: 'item_reference', id: a.projItem }] },
    ],
    '/v1/responses/compact': [
      { model: 'm', input: 'compact', previous_response_id: a.response },
      { model: 'm', input: 'compact', conversation: a.conversation },
      { model: 'm', input: [{ type: 'item_reference', id: a.item }] },
      { model: 'm', input: [{ type: 'item_reference', id: a.projItem }] },
    ],
    '/v1/responses/input_tokens': [
      { model: 'm', input: 'count', previous_response_id: a.response },
      { model: 'm', input: 'count', conversation: a.conversation },
      { model: 'm', input: [{ type: 'item_reference', id: a.item }] },
      { model: 'm', input: [{ type: 'item_reference', id: a.projItem }] },
    ],
    '/v1/schedules': [{ agent: a.agentDef, every_seconds: 3600, input: 'B runs A agent', project_id: 'proj_default' }],
    '/v1/webhooks': [{ url: 'https://hooks.example.com/b', project_id: 'proj_default' }],
    '/v1/agents': [{ name: 'b_agent', model: 'm', instructions: 'B writes its own' }],
    '/v1/conversations': [{ items: [{ role: 'user', content: 'hello' }] }, { items: [{ type: 'item_reference', id: a.item }] },
      { items: [{ type: 'item_reference', id: a.projItem }] }],
    '/v1/memories': [{ text: 'B writes', user_id: 'alice' }],
    '/v1/memories/search': [{ query: MARK }, { query: MARK, filters: { user_id: 'alice' } }],
    '/v1/vault/secrets': [{ provider: 'github', value: 'b-value', user_id: 'alice' }],
    '/v1/admin/tenants': [{ name: 'b tenant' }],
    '/v1/admin/projects': [{ name: 'b project', tenant_id: 'tenant_default' }],
    '/v1/admin/keys': [{ name: 'into A', project_id: 'proj_default' }],
    '/v1/admin/agents': [{ id: 'agent_a_triage', project_id: 'proj_default', name: 'overwritten' }],
    '/v1/policies': [{ policies: 'forbid (principal, action, resource);', project_id: 'proj_default' }],
    '/v1/policies/evaluate': [{ principal: { type: 'User', id: 'alice' }, project_id: 'proj_default' }],
    '/v1/tool_servers': [{ label: 'a_tools', url: 'https://evil.example.com/mcp', project_id: 'proj_default' }],
    '/mcp': [{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'memory_search', arguments: { query: MARK } } },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'memory_write', arguments: { text: 'B writes into alice', user_id: 'alice' } } }],
  };
}

test('project B and end user bob reach nothing of project A, on every route', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-iso-'));
  const signer = keyPair('ES256', 'iso-1');
  fs.writeFileSync(path.join(dir, 'jwks.json'), jwks(signer));
  const env = { CONTINUUM_OIDC_ISSUER: ISS, CONTINUUM_OIDC_AUDIENCE: AUD, CONTINUUM_OIDC_JWKS: path.join(dir, 'jwks.json') };
  await withServer({ env }, async ({ server, upstream }) => {
    const tok = (sub) => sign(signer, { iss: ISS, aud: AUD, sub, exp: now() + 600 });
    const alice = tok('alice'), bob = tok('bob');
    const call = (method, p, key, body) => server.json(p, { method, key, body: body === undefined ? undefined : JSON.stringify(body) });

    // Project A (the default project): alice's objects, and the project's own.
    const a = {};
    const conv = await call('POST', '/v1/conversations', alice, { items: [{ role: 'user', content: `${MARK} alice's conversation` }] });
    a.conversation = conv.body.id;
    a.response = (await call('POST', '/v1/responses', alice, { model: 'm', input: `${MARK} alice's turn`, conversation: a.conversation })).body.id;
    a.background = (await call('POST', '/v1/responses', alice, { model: 'slow', input: `${MARK} long`, background: true })).body.id;
    a.memory = (await call('POST', '/v1/memories', alice, { text: `${MARK} alice's memory` })).body.id;
    a.secret = (await server.json('/v1/vault/secrets', { method: 'POST', headers: { 'x-continuum-user': 'alice' }, body: JSON.stringify({ provider: 'github', value: `${MARK}-secret` }) })).body.id;
    a.projResponse = (await call('POST', '/v1/responses', KEY, { model: 'm', input: `${MARK} project turn` })).body.id;
    a.projConversation = (await call('POST', '/v1/conversations', KEY, { items: [{ role: 'user', content: `${MARK} project conversation` }] })).body.id;
    a.projMemory = (await call('POST', '/v1/memories', KEY, { text: `${MARK} project memory` })).body.id;
    a.key = (await call('POST', '/v1/admin/keys', KEY, { name: 'A worker' })).body.id;
    a.agent = (await call('POST', '/v1/admin/agents', KEY, { id: 'agent_a_triage', name: `${MARK} agent` })).body.id;
    assert.equal((await call('PUT', '/v1/policies', KEY, { policies: `// ${MARK}\npermit (principal, action, resource);` })).status, 200);
    a.toolServer = (await call('POST', '/v1/tool_servers', KEY, { label: 'a_tools', url: 'https://tools.example.com/mcp', description: `${MARK} server` })).body.label;
    a.agentDef = (await call('POST', '/v1/agents', KEY, { name: 'a_support', model: 'm', instructions: 'You support.', metadata: { mark: MARK } })).body.name;
    assert.equal((await call('POST', `/v1/agents/${a.agentDef}/aliases/prod`, KEY, { version: 1 })).status, 200);
    a.webhook = (await call('POST', '/v1/webhooks', KEY, { url: 'https://hooks.example.com/a', description: `${MARK} hook` })).body.id;
    a.schedule = (await call('POST', '/v1/schedules', KEY, { agent: a.agentDef, cron: '0 0 1 1 *', input: `${MARK} yearly`, description: `${MARK} schedule` })).body.id;
    a.eval = (await call('POST', '/v1/evals', KEY, { name: `${MARK} eval`, data_source_config: { type: 'logs' },
      testing_criteria: [{ type: 'string_check', name: 'c', input: '{{sample.output_text}}', reference: MARK, operation: 'like' }] })).body.id;
    a.evalRun = (await call('POST', `/v1/evals/${a.eval}/runs`, KEY, { data_source: { type: 'responses', source: { type: 'responses' } } })).body.id;
    for (let i = 0; i < 100 && !a.evalItem; i++) {
      a.evalItem = (await call('GET', `/v1/evals/${a.eval}/runs/${a.evalRun}/output_items`, KEY)).body.data?.[0]?.id;
      if (!a.evalItem) await sleep(50);
    }
    a.item = (await call('GET', `/v1/conversations/${a.conversation}/items?order=asc`, alice)).body.data[0].id;
    a.projItem = (await call('GET', `/v1/responses/${a.projResponse}`, KEY)).body.output[0].id;
    for (const [k, v] of Object.entries(a)) assert.ok(v, `made ${k}`);
    const snapshot = async () => JSON.stringify([
      (await call('GET', `/v1/responses/${a.response}`, KEY)).body.output,
      (await call('GET', `/v1/conversations/${a.conversation}/items?limit=100`, KEY)).body.data,
      (await call('GET', `/v1/conversations/${a.conversation}`, KEY)).body.metadata,
      (await call('GET', `/v1/memories/${a.memory}`, KEY)).body.text,
      (await call('GET', `/v1/memories/${a.projMemory}`, KEY)).body.text,
      (await call('GET', `/v1/vault/secrets/${a.secret}`, KEY)).body.updated_at,
      (await call('GET', `/v1/admin/keys/${a.key}`, KEY)).body.revoked_at,
      (await call('GET', `/v1/responses/${a.projResponse}`, KEY)).status,
      (await call('GET', '/v1/admin/agents', KEY)).body.data,
      (await call('GET', '/v1/policies', KEY)).body.policies,
      (await call('GET', '/v1/tool_servers', KEY)).body.data,
      (await call('GET', '/v1/agents', KEY)).body.data,
      (await call('GET', '/v1/webhooks', KEY)).body.data,
      (await call('GET', '/v1/schedules', KEY)).body.data,
    ]);
    const before = await snapshot();

    // Project B, with a key that has every scope, act_as_user and project admin rights.
    await call('POST', '/v1/admin/projects', KEY, { name: 'B', id: 'proj_b' });
    const keyB = (await call('POST', '/v1/admin/keys', KEY, { project_id: 'proj_b', scopes: ['*'], act_as_user: true })).body.value;
    const attackers = { 'project B key': keyB, "bob's token in A": bob };

    const routes = (await call('GET', '/v1/admin/routes', KEY)).body.data;
    assert.ok(routes.length >= 35);
    const sentBefore = upstream.requests.length;
    let probed = 0;
    for (const { method, path: pattern } of routes) {
      const probe = PROBES[`${method} ${pattern}`];
      assert.ok(probe, `route ${method} ${pattern} has no isolation probe: add one to this suite`);
      for (const [who, cred] of Object.entries(attackers)) {
        const label = `${who}: ${method} ${pattern}`;
        if (probe.kind === 'public') continue;
        if (probe.kind === 'object') {
          const ids = probe.obj === 'response' ? [a.response, a.projResponse]
            : probe.obj === 'background' ? [a.background]
            : probe.obj === 'conversation' ? [a.conversation, a.projConversation]
            : probe.obj === 'memory' ? [a.memory, a.projMemory]
            : probe.obj === 'secret' ? [a.secret]
            : probe.obj === 'agent' ? [a.agent]
            : probe.obj === 'agent_def' ? [a.agentDef]
            : probe.obj === 'webhook' ? [a.webhook]
            : probe.obj === 'schedule' ? [a.schedule]
            : probe.obj === 'eval' ? [a.eval]
            : probe.obj === 'tool_server' ? [a.toolServer] : [a.key];
          for (const id of ids) {
            const p = pattern.replace('{id}', id).replace('{item}', a.item).replace('{label}', id).replace('{name}', id).replace('{alias}', 'prod')
              .replace('{run_id}', a.evalRun).replace('{item_id}', a.evalItem).replace('{steer_id}', 'steer_none');
            const r = await call(method, p, cred, probe.body ?? (method === 'POST' ? {} : undefined));
            probed++;
            assert.ok(r.status === 404 || r.status === 403, `${label} (${id}) -> ${r.status} ${JSON.stringify(r.body)}`);
            if (who === 'project B key') assert.equal(r.status, 404, `${label}: not found, never forbidden`);
            assert.ok(!JSON.stringify(r.body).includes(MARK), `${label}: no content of A`);
          }
        } else if (probe.kind === 'list') {
          for (const q of ['', '?user_id=alice', '?project_id=proj_default']) {
            const r = await call(method, pattern + q, cred);
            assert.ok(r.status < 500, label);
            const text = JSON.stringify(r.body);
            assert.ok(!text.includes(MARK), `${label}${q}: no content of A`);
            for (const id of Object.values(a)) {
              // Bob may run A's agents (his project's): his own responses name the agent.
              if (who !== 'project B key' && id === a.agentDef) continue;
              assert.ok(!text.includes(id), `${label}${q}: no id of A (${id})`);
            }
          }
        } else if (probe.kind === 'socket') {
          // Over a WebSocket, every turn that names A's objects gets an error event.
          const ws = new WebSocket(server.base.replace('http', 'ws') + pattern, { headers: { authorization: `Bearer ${cred}` } });
          await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
          const got = [];
          ws.on('message', (d) => got.push(JSON.parse(String(d))));
          const bodies = createBodies(a)['/v1/responses'].filter((b) => b.previous_response_id || b.conversation || JSON.stringify(b).includes('item_reference'));
          bodies.forEach((b, i) => ws.send(JSON.stringify({ type: 'response.create', stream_id: `probe${i}`, ...b })));
          for (let t = 0; t < 200 && got.filter((e) => e.type === 'error').length < bodies.length; t++) await new Promise((r) => setTimeout(r, 25));
          ws.close();
          assert.equal(got.filter((e) => e.type === 'error').length, bodies.length, `${label}: ${JSON.stringify(got)}`);
          assert.ok(!JSON.stringify(got).includes(MARK), `${label}: no content of A`);
        } else if (probe.kind === 'oauth') {
          const r = await call(method, pattern.replace('{provider}', 'github'), cred, {});
          assert.ok(r.status >= 400 && r.status < 500, `${label} -> ${r.status}`);
          assert.ok(!JSON.stringify(r.body).includes(MARK), label);
        } else if (probe.kind === 'a2a') {
          // A's agent by name; over JSON-RPC, A's response as a task id.
          const body = method === 'POST' ? { jsonrpc: '2.0', id: 1, method: 'GetTask', params: { id: a.response } } : undefined;
          const r = await call(method, pattern.replace('{name}', a.agentDef), cred, body);
          if (who === 'project B key') assert.equal(r.status, 404, `${label}: ${r.status}`);
          assert.ok(r.status < 500 && !JSON.stringify(r.body).includes(MARK), `${label}: no content of A`);
          if (method === 'POST' && r.status === 200) assert.equal(r.body.error?.code, -32001, `${label}: A's response is no task of this agent`);
        } else if (probe.kind === 'user') {
          const r = await call(method, pattern.replace('{user_id}', 'alice'), cred);
          assert.ok(r.status === 403 || (who === 'project B key' && r.status === 200), `${label} -> ${r.status}`);
        } else if (probe.kind === 'create') {
          for (const body of createBodies(a)[pattern] || [{}]) {
            const r = await call(method, pattern, cred, body);
            const text = JSON.stringify(r.body);
            assert.ok(!text.includes(MARK), `${label} ${JSON.stringify(body)}: no content of A`);
            const refers = JSON.stringify(body).includes('item_reference');
            if (body.previous_response_id || body.conversation || refers) assert.ok(r.status === 400 || r.status === 404, `${label}: ${r.status}`);
            if (pattern.startsWith('/v1/admin/tenants') || pattern.startsWith('/v1/admin/projects')) assert.equal(r.status, 403, label);
            if (pattern === '/v1/admin/keys' || pattern === '/v1/admin/agents') assert.ok(r.status === 403 || r.status === 404, `${label}: ${r.status}`);
          }
        }
      }
    }
    assert.ok(probed >= 70, `probed ${probed} object requests`);
    // Nothing of A reached the model through B's or bob's turns, and A is unchanged.
    for (const req of upstream.requests.slice(sentBefore)) assert.ok(!JSON.stringify(req.body).includes(MARK), 'nothing of A in a model context');
    await sleep(100);
    assert.equal(await snapshot(), before, "A's objects are unchanged");
    // Alice still reaches all of hers.
    assert.equal((await call('GET', `/v1/responses/${a.response}`, alice)).status, 200);
    assert.equal((await call('GET', `/v1/memories/${a.memory}`, alice)).status, 200);
  });
  fs.rmSync(dir, { recursive: true, force: true });
});
