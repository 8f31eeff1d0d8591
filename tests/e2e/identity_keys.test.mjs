// API keys: lifecycle through the admin routes and the CLI, scopes, act_as_user, and admin
// rights (global admin vs a project's admin key).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { withServer, sleep, BIN, KEY } from './harness.mjs';

const post = (server, path, body, key = KEY, headers = {}) =>
  server.json(path, { method: 'POST', key, headers, body: JSON.stringify(body) });

test('keys are created, listed redacted, used, rotated with an overlap, and revoked', async () => {
  await withServer({}, async ({ server }) => {
    const made = await post(server, '/v1/admin/keys', { name: 'backend', scopes: ['responses', 'conversations'], act_as_user: true });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const k1 = made.body.value;
    assert.match(k1, /^ck_[A-Za-z0-9]{48}$/);
    assert.deepEqual(made.body.scopes, ['responses', 'conversations']);
    assert.equal(made.body.redacted_value, k1.slice(0, 7) + '...' + k1.slice(-4));

    // Listed and fetched without the value.
    const list = await server.json('/v1/admin/keys');
    const listed = list.body.data.find((k) => k.id === made.body.id);
    assert.ok(listed);
    assert.equal(listed.value, undefined);
    assert.ok(!JSON.stringify(list.body).includes(k1));
    const one = await server.json(`/v1/admin/keys/${made.body.id}`);
    assert.equal(one.body.value, undefined);
    assert.equal(one.body.act_as_user, true);

    // Used within its scopes; refused outside them.
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'hi' }, k1)).status, 200);
    const mem = await server.json('/v1/memories', { key: k1 });
    assert.equal(mem.status, 403);
    assert.equal(mem.body.error.code, 'insufficient_scope');
    assert.match(mem.body.error.message, /memory:read/);
    assert.equal((await server.json('/v1/admin/keys', { key: k1 })).status, 403);

    // Rotation: both work during the overlap; the new one has the same rights.
    const rot = await post(server, `/v1/admin/keys/${made.body.id}/rotate`, { overlap_seconds: 2 });
    assert.equal(rot.status, 200, JSON.stringify(rot.body));
    const k2 = rot.body.value;
    assert.notEqual(k2, k1);
    assert.equal(rot.body.rotated_from, made.body.id);
    assert.deepEqual(rot.body.scopes, ['responses', 'conversations']);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'hi' }, k1)).status, 200);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'hi' }, k2)).status, 200);
    await sleep(3100);
    const old = await post(server, '/v1/responses', { model: 'm', input: 'hi' }, k1);
    assert.equal(old.status, 401);
    assert.equal(old.body.error.code, 'invalid_api_key');
    assert.ok(!JSON.stringify(old.body).includes(k1));

    // Revocation takes effect on the very next request.
    const rev = await server.json(`/v1/admin/keys/${rot.body.id}`, { method: 'DELETE' });
    assert.equal(rev.status, 200);
    assert.ok(rev.body.revoked_at > 0);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'hi' }, k2)).status, 401);

    // Expiring keys stop working; bad input is a precise 400.
    const exp = await post(server, '/v1/admin/keys', { name: 'short', expires_in: 1 });
    assert.equal((await server.json('/v1/memories', { key: exp.body.value })).status, 200);
    await sleep(2100);
    assert.equal((await server.json('/v1/memories', { key: exp.body.value })).status, 401);
    const bad = await post(server, '/v1/admin/keys', { scopes: ['responses', 'root'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'scopes');
    assert.equal((await post(server, '/v1/admin/keys', { act_as_user: 'yes' })).body.error.param, 'act_as_user');
    assert.equal((await post(server, '/v1/admin/keys/key_nope/rotate', {})).status, 404);
  });
});

test('act_as_user: a key without it may not name an end user, by any route', async () => {
  await withServer({}, async ({ server, upstream }) => {
    const plain = (await post(server, '/v1/admin/keys', { name: 'plain' })).body.value;
    const trusted = (await post(server, '/v1/admin/keys', { name: 'trusted', act_as_user: true })).body.value;
    const ways = [
      ['header', () => post(server, '/v1/responses', { model: 'm', input: 'x' }, plain, { 'x-continuum-user': 'alice' }), 'X-Continuum-User'],
      ['query', () => post(server, '/v1/responses?user_id=alice', { model: 'm', input: 'x' }, plain), 'user_id'],
      ['safety_identifier', () => post(server, '/v1/responses', { model: 'm', input: 'x', safety_identifier: 'alice' }, plain), 'safety_identifier'],
      ['user', () => post(server, '/v1/responses', { model: 'm', input: 'x', user: 'alice' }, plain), 'user'],
      ['memory body', () => post(server, '/v1/memories', { text: 'x', user_id: 'alice' }, plain), 'user_id'],
      ['memory search', () => post(server, '/v1/memories/search', { query: 'x', filters: { user_id: 'alice' } }, plain), 'filters.user_id'],
      ['erase path', () => server.json('/v1/users/alice/memories', { method: 'DELETE', key: plain }), 'user_id'],
    ];
    const before = upstream.requests.length;
    for (const [way, call, param] of ways) {
      const r = await call();
      assert.equal(r.status, 403, way);
      assert.equal(r.body.error.code, 'act_as_user_required', way);
      assert.equal(r.body.error.param, param, way);
      assert.match(r.body.error.message, /act_as_user/);
    }
    assert.equal(upstream.requests.length, before, 'nothing reached the model');
    // Without naming anyone it acts for the project; the trusted key may name users.
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'x' }, plain)).status, 200);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'x', safety_identifier: 'alice' }, trusted)).status, 200);
    assert.equal((await post(server, '/v1/memories', { text: 'x' }, trusted, { 'x-continuum-user': 'alice' })).body.namespace.user_id, 'alice');
  });
});

test('tenants, projects and a project admin key that manages only its own project', async () => {
  await withServer({}, async ({ server }) => {
    const t = await post(server, '/v1/admin/tenants', { name: 'Acme' });
    assert.equal(t.status, 200);
    const p = await post(server, '/v1/admin/projects', { tenant_id: t.body.id, name: 'Support bot' });
    assert.equal(p.status, 200, JSON.stringify(p.body));
    assert.equal(p.body.tenant_id, t.body.id);
    assert.equal((await post(server, '/v1/admin/projects', { tenant_id: 'tenant_nope', name: 'x' })).status, 404);
    const projects = await server.json(`/v1/admin/projects?tenant_id=${t.body.id}`);
    assert.deepEqual(projects.body.data.map((x) => x.id), [p.body.id]);

    const padmin = await post(server, '/v1/admin/keys', { project_id: p.body.id, name: 'acme admin', scopes: ['admin', 'responses'] });
    assert.equal(padmin.body.tenant_id, t.body.id);
    const pk = padmin.body.value;
    // It manages its project's keys, and nothing else.
    const mine = await post(server, '/v1/admin/keys', { name: 'worker', scopes: ['responses'] }, pk);
    assert.equal(mine.status, 200);
    assert.equal(mine.body.project_id, p.body.id);
    const listed = await server.json('/v1/admin/keys', { key: pk });
    assert.ok(listed.body.data.every((k) => k.project_id === p.body.id));
    assert.equal((await server.json('/v1/admin/keys?project_id=proj_default', { key: pk })).status, 404);
    const others = (await server.json('/v1/admin/keys')).body.data.filter((k) => k.project_id === 'proj_default');
    assert.equal((await server.json(`/v1/admin/keys/${others[0].id}`, { key: pk })).status, 404);
    assert.equal((await server.json(`/v1/admin/keys/${others[0].id}`, { method: 'DELETE', key: pk })).status, 404);
    assert.equal((await post(server, '/v1/admin/tenants', { name: 'x' }, pk)).status, 403);
    // It cannot grant what it lacks.
    const up = await post(server, '/v1/admin/keys', { scopes: ['memory:write'] }, pk);
    assert.equal(up.status, 403);
    assert.equal((await post(server, '/v1/admin/keys', { act_as_user: true }, pk)).status, 403);
    // Objects of the other project are invisible to its keys.
    const r = await post(server, '/v1/responses', { model: 'm', input: 'default project' });
    assert.equal((await server.json(`/v1/responses/${r.body.id}`, { key: mine.body.value })).status, 404);
  });
});

test('the CLI creates keys with --scopes and --act-as-user; a running server accepts them', async () => {
  await withServer({}, async ({ server }) => {
    const out = execFileSync(BIN, ['keys', 'create', '--project', 'proj_cli', '--scopes', 'responses,memory:read', '--act-as-user', '--data', server.dataDir, ...server.storeArgs]).toString().trim();
    const key = out.split('\n').pop().trim();
    const r = await post(server, '/v1/responses', { model: 'm', input: 'hi', safety_identifier: 'zoe' }, key);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await post(server, '/v1/memories', { text: 'x' }, key)).status, 403);
    const listed = (await server.json('/v1/admin/keys?project_id=proj_cli')).body.data;
    assert.deepEqual(listed[0].scopes, ['responses', 'memory:read']);
    assert.equal(listed[0].act_as_user, true);
    const plain = execFileSync(BIN, ['keys', 'create', '--project', 'proj_cli', '--data', server.dataDir, ...server.storeArgs]).toString().trim().split('\n').pop();
    await sleep(1100);  // the server re-reads the key table at most once a second
    const named = await post(server, '/v1/responses', { model: 'm', input: 'hi', user: 'zoe' }, plain);
    assert.equal(named.status, 403);
    const bad = spawnSync(BIN, ['keys', 'create', '--scopes', 'everything', '--data', server.dataDir, ...server.storeArgs]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr.toString(), /Unknown scope 'everything'/);
  });
});

test('a registered agent narrows scopes and tools; unregistered agent names restrict nothing', async () => {
  await withServer({}, async ({ server, upstream }) => {
    const reg = await post(server, '/v1/admin/agents', { id: 'triage', name: 'Triage bot', scopes: ['responses'], allowed_tools: ['memory', 'lookup_order'] });
    assert.equal(reg.status, 200, JSON.stringify(reg.body));
    assert.deepEqual(reg.body.scopes, ['responses']);
    const as = { 'x-continuum-agent': 'triage' };
    // The key may write memories; the agent may not.
    const mem = await post(server, '/v1/memories', { text: 'x' }, KEY, as);
    assert.equal(mem.status, 403);
    assert.equal(mem.body.error.code, 'insufficient_scope');
    assert.equal((await post(server, '/v1/memories', { text: 'x' }, KEY, { 'x-continuum-agent': 'someone-else' })).status, 200);
    // Only its tools.
    const fn = (name) => ({ type: 'function', name, parameters: { type: 'object', properties: {} } });
    const bad = await post(server, '/v1/responses', { model: 'm', input: 'x', tools: [fn('lookup_order'), fn('delete_everything')] }, KEY, as);
    assert.equal(bad.status, 403);
    assert.equal(bad.body.error.code, 'tool_not_allowed');
    assert.match(bad.body.error.message, /delete_everything/);
    // (The turn's memory extraction may reach the upstream too, at any moment: turns only.)
    const turns = () => upstream.requests.filter((r) => r.body?.messages && !r.body.response_format?.json_schema?.name?.startsWith('memory_')).length;
    const sent = turns();
    const ok = await post(server, '/v1/responses', { model: 'm', input: 'x', safety_identifier: 'ada', tools: [fn('lookup_order'), { type: 'memory' }] }, KEY, as);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(turns(), sent + 1);
    // Listed, validated, deleted (then it restricts nothing).
    assert.deepEqual((await server.json('/v1/admin/agents')).body.data.map((a) => a.id), ['triage']);
    assert.equal((await post(server, '/v1/admin/agents', { id: 'bad id!' })).status, 400);
    assert.equal((await post(server, '/v1/admin/agents', { id: 'x', scopes: ['root'] })).status, 400);
    assert.equal((await server.json('/v1/admin/agents/triage', { method: 'DELETE' })).status, 200);
    assert.equal((await server.json('/v1/admin/agents/triage', { method: 'DELETE' })).status, 404);
    assert.equal((await post(server, '/v1/memories', { text: 'x' }, KEY, as)).status, 200);
  });
});
