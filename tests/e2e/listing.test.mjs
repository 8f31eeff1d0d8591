// Listing responses and conversations (GET /v1/responses, GET /v1/conversations; Continuum
// extensions the console reads): newest first with cursors, runs in progress included, a
// status filter, end users see only their own, and bad parameters are 400s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';

test('listing: responses and conversations, paged, filtered and scoped', async () => {
  await withServer({}, async ({ server, client }) => {
    const ada = { 'x-continuum-user': 'ada' };
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push((await client.responses.create({ model: 'm', input: `turn ${i}` }, { headers: ada })).id);
    const other = await client.responses.create({ model: 'm', input: 'bob here' }, { headers: { 'x-continuum-user': 'bob' } });
    const failed = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'FAIL_ALWAYS' }), headers: ada });
    assert.equal(failed.status, 502);
    const slow = await client.responses.create({ model: 'm', input: 'SLOW', background: true });

    const all = await server.json('/v1/responses?limit=100');
    assert.equal(all.status, 200);
    const ids = all.body.data.map((r) => r.id);
    assert.equal(ids[0], slow.id, 'the run in progress comes first');
    assert.ok(['queued', 'in_progress'].includes(all.body.data[0].status));
    for (const id of [...mine, other.id]) assert.ok(ids.includes(id), id);
    assert.deepEqual([...ids].slice(1), [...ids].slice(1).sort().reverse(), 'newest first');
    assert.equal(all.body.first_id, ids[0]);

    // Pages of two, by cursor, cover the same responses once each.
    const seen = [];
    let after = '';
    for (;;) {
      const p = await server.json(`/v1/responses?limit=2${after ? `&after=${after}` : ''}`);
      seen.push(...p.body.data.map((r) => r.id));
      if (!p.body.has_more) break;
      after = p.body.last_id;
    }
    assert.deepEqual(seen, ids);

    // Ada sees hers only; a status filter; oldest first.
    const hers = await server.json('/v1/responses?limit=100', { headers: ada });
    assert.ok(!hers.body.data.some((r) => r.id === other.id), 'not bob\'s');
    assert.ok(mine.every((id) => hers.body.data.some((r) => r.id === id)));
    const bad = await server.json('/v1/responses?status=failed', { headers: ada });
    assert.deepEqual(bad.body.data.map((r) => r.status), ['failed']);
    assert.equal(bad.body.data[0].error.code, 'server_error');
    const asc = await server.json('/v1/responses?order=asc&limit=1', { headers: ada });
    assert.equal(asc.body.data[0].id, mine[0]);
    assert.equal(asc.body.data[0].output[0].content[0].text, 'echo: turn 0', 'with output items');
    for (const q of ['status=done', 'limit=0', 'limit=x', 'order=up']) {
      const r = await server.json(`/v1/responses?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.error.type, 'invalid_request_error');
    }
    // Deleted responses are not listed.
    await client.responses.delete(mine[1]);
    assert.ok(!(await server.json('/v1/responses?limit=100')).body.data.some((r) => r.id === mine[1]));

    // Conversations.
    const c1 = await client.conversations.create({ metadata: { n: '1' } }, { headers: ada });
    const c2 = await client.conversations.create({ metadata: { n: '2' } });
    const cb = await client.conversations.create({}, { headers: { 'x-continuum-user': 'bob' } });
    const convs = await server.json('/v1/conversations');
    assert.deepEqual(convs.body.data.map((c) => c.id), [cb.id, c2.id, c1.id]);
    assert.deepEqual(convs.body.data[2].metadata, { n: '1' });
    const page = await server.json(`/v1/conversations?limit=1&after=${cb.id}`);
    assert.deepEqual(page.body.data.map((c) => c.id), [c2.id]);
    assert.equal(page.body.has_more, true);
    const adas = await server.json('/v1/conversations', { headers: ada });
    assert.ok(!adas.body.data.some((c) => c.id === cb.id));
    assert.equal((await server.json('/v1/conversations', { key: 'ck_nope_000000000000' })).status, 401);
  });
});
