// The vault over HTTP: write-only secrets per project, end user or agent; a planted secret never
// appears in an answer, an error, the logs or the database file; other projects and users get
// 404; a new master key (the old one still configured) rewraps every secret at start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { withServer, Server, KEY } from './harness.mjs';

const post = (server, p, body, key = KEY, headers = {}) =>
  server.json(p, { method: 'POST', key, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });

test('secrets are write-only, scoped, and never leak', async () => {
  const master = crypto.randomBytes(32).toString('hex');
  await withServer({ env: { CONTINUUM_MASTER_KEY: master } }, async ({ server }) => {
    const SECRET = 'sk-planted-' + crypto.randomBytes(12).toString('hex');
    const put = await post(server, '/v1/vault/secrets', { provider: 'github', value: SECRET, metadata: { note: 'ci' } });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.object, 'vault.secret');
    assert.deepEqual(put.body.owner, { type: 'project', id: null });
    const forAlice = await post(server, '/v1/vault/secrets', { provider: 'github', value: SECRET + '-alice' }, KEY, { 'x-continuum-user': 'alice' });
    assert.deepEqual(forAlice.body.owner, { type: 'user', id: 'alice' });
    const forAgent = await post(server, '/v1/vault/secrets', { provider: 'slack', value: SECRET + '-agent', agent_id: 'triage' });
    assert.deepEqual(forAgent.body.owner, { type: 'agent', id: 'triage' });

    const seen = [put, forAlice, forAgent];
    seen.push(await server.json('/v1/vault/secrets'));
    seen.push(await server.json(`/v1/vault/secrets/${put.body.id}`));
    // Errors about a body that carries the secret do not repeat it.
    seen.push(await post(server, '/v1/vault/secrets', `{"provider":"x","value":"${SECRET}"`));
    seen.push(await post(server, '/v1/vault/secrets', { provider: 'BAD NAME', value: SECRET }));
    seen.push(await post(server, '/v1/vault/secrets', { provider: 'x', value: SECRET, kind: 'password' }));
    seen.push(await post(server, '/v1/vault/secrets', { provider: 'x', value: SECRET, user_id: 'a', agent_id: 'b' }));
    assert.deepEqual(seen.slice(5).map((r) => r.status), [400, 400, 400, 400]);
    for (const r of seen) assert.ok(!JSON.stringify(r.body).includes(SECRET), 'no answer carries the secret');
    assert.equal(seen[3].body.data.length, 3);

    // Alice sees only hers; other projects see nothing; end users without vault:write cannot write.
    const mine = await server.json('/v1/vault/secrets', { headers: { 'x-continuum-user': 'alice' } });
    assert.deepEqual(mine.body.data.map((s) => s.id), [forAlice.body.id]);
    assert.equal((await server.json(`/v1/vault/secrets/${put.body.id}`, { headers: { 'x-continuum-user': 'alice' } })).status, 404);
    await post(server, '/v1/admin/projects', { name: 'b', id: 'proj_b' });
    const other = (await post(server, '/v1/admin/keys', { project_id: 'proj_b', scopes: ['vault:write'] })).body.value;
    assert.equal((await server.json(`/v1/vault/secrets/${put.body.id}`, { key: other })).status, 404);
    assert.equal((await server.json(`/v1/vault/secrets/${put.body.id}`, { method: 'DELETE', key: other })).status, 404);
    assert.deepEqual((await server.json('/v1/vault/secrets', { key: other })).body.data, []);
    const noScope = (await post(server, '/v1/admin/keys', { scopes: ['responses'] })).body.value;
    assert.equal((await post(server, '/v1/vault/secrets', { provider: 'x', value: 'v' }, noScope)).status, 403);

    // Audited without the value.
    const audit = await server.json('/v1/admin/audit?action=vault.write');
    assert.equal(audit.body.data.length, 3);
    assert.ok(!JSON.stringify(audit.body).includes(SECRET));
    // Deleted is gone.
    assert.equal((await server.json(`/v1/vault/secrets/${forAgent.body.id}`, { method: 'DELETE' })).status, 200);
    assert.equal((await server.json(`/v1/vault/secrets/${forAgent.body.id}`)).status, 404);

    await server.stop();
    assert.ok(!server.log.includes(SECRET), 'not in the logs');
    const files = fs.readdirSync(server.dataDir).filter((f) => f.startsWith('continuum.db'));
    for (const f of files) assert.ok(!fs.readFileSync(path.join(server.dataDir, f)).includes(SECRET), `not in ${f}`);
  });
});

test('a new master key rewraps every secret at start-up, while the server serves', async () => {
  const k1 = crypto.randomBytes(32).toString('hex'), k2 = crypto.randomBytes(32).toString('base64');
  await withServer({ env: { CONTINUUM_MASTER_KEY: k1 } }, async ({ server }) => {
    for (let i = 0; i < 5; i++) assert.equal((await post(server, '/v1/vault/secrets', { provider: `p${i}`, value: `v${i}` })).status, 200);
    await server.stop();
    const before = server.sql('SELECT DISTINCT key_id FROM vault_secrets');
    assert.equal(before.length, 1);
    const s2 = new Server({ dataDir: server.dataDir, env: { CONTINUUM_MASTER_KEY: k2, CONTINUUM_MASTER_KEY_PREVIOUS: k1 } });
    await s2.start();
    let after;
    for (let i = 0; i < 100; i++) {
      after = server.sql('SELECT DISTINCT key_id FROM vault_secrets');
      if (after.length === 1 && after[0] !== before[0]) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(after.length, 1);
    assert.notEqual(after[0], before[0]);
    assert.equal((await s2.json('/v1/vault/secrets')).body.data.length, 5);
    await s2.stop();
    // A malformed master key stops start-up.
    const bad = new Server({ dataDir: server.dataDir, env: { CONTINUUM_MASTER_KEY: 'not-a-key' } });
    await assert.rejects(bad.start(), /CONTINUUM_MASTER_KEY/);
  });
});
