// Rate limits per key and per end user, and a daily token quota per project: 429 with
// Retry-After and OpenAI's x-ratelimit-* headers; other callers are unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withServer, KEY } from './harness.mjs';

function config(body) {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-rl-')), 'c.toml');
  fs.writeFileSync(f, body);
  return f;
}
const post = (server, p, body, key = KEY, headers = {}) =>
  server.json(p, { method: 'POST', key, headers, body: JSON.stringify(body) });

test('requests per key: the key that is over its limit waits, others do not', async () => {
  const cfg = config('[limits]\nkey_requests_per_minute = 4\n');
  await withServer({ args: ['--config', cfg] }, async ({ server, client }) => {
    const other = (await post(server, '/v1/admin/keys', { name: 'other' })).body.value;  // 1 of KEY's 4
    const seen = [];
    for (let i = 0; i < 3; i++) {
      const r = await server.json('/v1/memories');
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-limit-requests'), '4');
      seen.push(Number(r.headers.get('x-ratelimit-remaining-requests')));
    }
    assert.deepEqual(seen, [2, 1, 0]);
    const over = await server.json('/v1/memories');
    assert.equal(over.status, 429);
    assert.equal(over.body.error.type, 'rate_limit_error');
    assert.equal(over.body.error.code, 'rate_limit_exceeded');
    assert.ok(Number(over.headers.get('retry-after')) >= 1);
    assert.match(over.headers.get('x-ratelimit-reset-requests'), /^\d+(ms|s)$|m/);
    // The official SDK sees a RateLimitError.
    await assert.rejects(client.responses.create({ model: 'm', input: 'x' }), (e) => e.status === 429);
    // Another key has its own bucket.
    assert.equal((await server.json('/v1/memories', { key: other })).status, 200);
  });
});

test('requests per end user, by header and by body; other users are unaffected', async () => {
  const cfg = config('[limits]\nuser_requests_per_minute = 2\n');
  await withServer({ args: ['--config', cfg] }, async ({ server }) => {
    const asAlice = { 'x-continuum-user': 'alice' };
    assert.equal((await server.json('/v1/memories', { headers: asAlice })).status, 200);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'x', safety_identifier: 'alice' })).status, 200);
    const over = await post(server, '/v1/responses', { model: 'm', input: 'x', safety_identifier: 'alice' });
    assert.equal(over.status, 429);
    assert.match(over.body.error.message, /end user/);
    assert.equal((await server.json('/v1/memories', { headers: asAlice })).status, 429);
    assert.equal((await server.json('/v1/memories', { headers: { 'x-continuum-user': 'bob' } })).status, 200);
    assert.equal((await server.json('/v1/memories')).status, 200, 'the project itself is not an end user');
  });
});

test('a project that used its daily tokens gets 429 insufficient_quota; another project does not', async () => {
  const cfg = config('[limits]\nproject_tokens_per_day = 40\n');
  await withServer({ args: ['--config', cfg] }, async ({ server }) => {
    const p = await post(server, '/v1/admin/projects', { name: 'other', id: 'proj_other' });
    assert.equal(p.status, 200);
    const otherKey = (await post(server, '/v1/admin/keys', { project_id: 'proj_other' })).body.value;
    const remaining = [];
    let refused;
    for (let i = 0; i < 6; i++) {
      const r = await post(server, '/v1/responses', { model: 'm', input: 'hello there' });
      if (r.status === 429) { refused = r; break; }
      assert.equal(r.status, 200);
      assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '40');
      remaining.push(Number(r.headers.get('x-ratelimit-remaining-tokens')));
    }
    assert.ok(refused, 'the quota ran out');
    assert.ok(remaining.length >= 2 && remaining[1] < remaining[0], `remaining ${remaining}`);
    assert.equal(refused.body.error.code, 'insufficient_quota');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.equal((await post(server, '/v1/responses', { model: 'm', input: 'x' }, otherKey)).status, 200);
    // Reads are not turns: they still work.
    assert.equal((await server.json('/v1/memories')).status, 200);
  });
});
