// The audit log: administrative actions, key use, identity failures and denied requests are
// recorded (never a secret); admins read it; tampering with a stored row breaks the hash chain,
// and `continuum audit verify` says where.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { withServer, sleep, BIN, KEY } from './harness.mjs';

const post = (server, p, body, key = KEY, headers = {}) =>
  server.json(p, { method: 'POST', key, headers, body: JSON.stringify(body) });

test('actions, failures and refusals are audited; a tampered row is detected', async () => {
  await withServer({}, async ({ server }) => {
    const made = await post(server, '/v1/admin/keys', { name: 'worker', scopes: ['responses'] });
    const worker = made.body.value;
    await post(server, `/v1/admin/keys/${made.body.id}/rotate`, { overlap_seconds: 0 });
    await post(server, '/v1/admin/tenants', { name: 'Acme' });
    const badKey = 'ck_' + 'x'.repeat(48);
    assert.equal((await server.json('/v1/memories', { key: badKey })).status, 401);
    const rotated = (await server.json('/v1/admin/keys')).body.data.find((k) => k.rotated_from === made.body.id);
    const plain = (await post(server, '/v1/admin/keys', { name: 'plain', scopes: ['responses', 'memory:read'] })).body.value;
    assert.equal((await server.json('/v1/memories', { key: plain, headers: { 'x-continuum-user': 'eve' } })).status, 403);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'x', user: 'eve' }, plain)).status, 403);
    await sleep(300);  // refusals are noted without waiting

    const log = await server.json('/v1/admin/audit?limit=1000');
    assert.equal(log.status, 200);
    const actions = log.body.data.map((e) => e.action);
    for (const a of ['key.create', 'key.rotate', 'tenant.create', 'auth.failed', 'request.denied', 'key.used'])
      assert.ok(actions.includes(a), `${a} in ${actions}`);
    const denied = log.body.data.filter((e) => e.action === 'request.denied');
    assert.ok(denied.some((e) => e.detail.code === 'act_as_user_required' && e.detail.path === '/v1/responses'));
    assert.ok(log.body.data.find((e) => e.action === 'key.rotate').detail.new_key === rotated.id);
    const text = JSON.stringify(log.body);
    for (const secret of [KEY, worker, plain, badKey]) assert.ok(!text.includes(secret), 'no credential in the audit log');
    // Seqs increase without gaps; every entry has a hash.
    log.body.data.forEach((e, i) => { assert.equal(e.seq, i + 1); assert.match(e.hash, /^[0-9a-f]{64}$/); });
    // Filtering, and who may read it.
    const only = await server.json('/v1/admin/audit?action=key.create');
    assert.ok(only.body.data.length >= 2 && only.body.data.every((e) => e.action === 'key.create'));
    assert.equal((await server.json('/v1/admin/audit', { key: plain })).status, 403);
    assert.equal((await server.json('/v1/admin/audit?limit=0')).status, 400);

    await server.stop();
    const db = path.join(server.dataDir, 'continuum.db');
    const store = ['--data', server.dataDir, ...server.storeArgs];
    const sql = (q) => (server.pg ? execFileSync('psql', [server.pg.url, '-qc', q]) : execFileSync('sqlite3', [db, q]));
    const ok = execFileSync(BIN, ['audit', 'verify', ...store]).toString();
    assert.match(ok, /intact/);
    // Somebody edits an entry to hide what a key did.
    sql("UPDATE audit_log SET actor='key_someone_else' WHERE seq=2");
    const bad = spawnSync(BIN, ['audit', 'verify', ...store]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr.toString(), /entry 2 was altered/);
    // Or removes one.
    sql('DELETE FROM audit_log WHERE seq=3');
    const gap = spawnSync(BIN, ['audit', 'verify', ...store]);
    assert.equal(gap.status, 1);
  });
});
