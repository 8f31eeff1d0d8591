// Regression tests: a request that acts for an end user (X-Continuum-User header or ?user_id)
// writes into, reads from, searches and erases only that user's memories, on every memory route,
// and a turn of one user never receives another user's records in its context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { withServer, sleep, KEY, jobsSettled } from './harness.mjs';

// The two ways a request names the user it acts for.
const AS = {
  header: (user) => ({ headers: { 'x-continuum-user': user }, q: '' }),
  query: (user) => ({ headers: {}, q: `?user_id=${encodeURIComponent(user)}` }),
};

for (const [way, as] of Object.entries(AS)) {
  test(`memory routes follow the acting user (${way})`, async () => {
    await withServer({}, async ({ server }) => {
      const alice = as('alice'), bob = as('bob');
      // Write: lands in alice's namespace although the body names no user.
      const w = await server.json('/v1/memories' + alice.q, { method: 'POST', headers: alice.headers, body: JSON.stringify({ text: 'The user has a dog named Rex.' }) });
      assert.equal(w.status, 200, JSON.stringify(w.body));
      assert.equal(w.body.namespace.user_id, 'alice');
      const rex = w.body.id;
      // Naming another user in the body is refused, and nothing is written.
      const other = await server.json('/v1/memories' + alice.q, { method: 'POST', headers: alice.headers, body: JSON.stringify({ text: 'Bob likes cats.', user_id: 'bob' }) });
      assert.equal(other.status, 403);
      assert.equal(other.body.error.code, 'user_mismatch');
      assert.equal(other.body.error.param, 'user_id');
      const nested = await server.json('/v1/memories' + alice.q, { method: 'POST', headers: alice.headers, body: JSON.stringify({ text: 'Bob likes cats.', namespace: { user_id: 'bob' } }) });
      assert.equal(nested.status, 403);
      assert.equal(nested.body.error.param, 'namespace.user_id');
      const same = await server.json('/v1/memories' + alice.q, { method: 'POST', headers: alice.headers, body: JSON.stringify({ text: 'The user is allergic to peanuts.', user_id: 'alice' }) });
      assert.equal(same.status, 200);
      // A project-wide record and one of bob's, written without an acting user.
      await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'The office closes at six.' }) });
      const bobs = await server.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Bob is allergic to peanuts too.', user_id: 'bob' }) });

      // Get: her own write is found; bob's is not, and bob cannot see hers.
      assert.equal((await server.json(`/v1/memories/${rex}` + alice.q, { headers: alice.headers })).status, 200);
      assert.equal((await server.json(`/v1/memories/${rex}` + bob.q, { headers: bob.headers })).status, 404);
      assert.equal((await server.json(`/v1/memories/${bobs.body.id}` + alice.q, { headers: alice.headers })).status, 404);

      // List: only alice's records.
      const list = await server.json('/v1/memories' + alice.q, { headers: alice.headers });
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.data.map((m) => m.text).sort(), ['The user has a dog named Rex.', 'The user is allergic to peanuts.']);
      assert.ok(list.body.data.every((m) => m.namespace.user_id === 'alice'));

      // Search: bob never gets alice's records, even by naming her in the filters.
      const s = await server.json('/v1/memories/search' + bob.q, { method: 'POST', headers: bob.headers, body: JSON.stringify({ query: 'allergic peanuts', top_k: 10 }) });
      assert.equal(s.status, 200);
      assert.deepEqual(s.body.data.map((m) => m.text), ['Bob is allergic to peanuts too.']);
      const spy = await server.json('/v1/memories/search' + bob.q, { method: 'POST', headers: bob.headers, body: JSON.stringify({ query: 'allergic peanuts', filters: { user_id: 'alice' } }) });
      assert.equal(spy.status, 403);
      assert.equal(spy.body.error.param, 'filters.user_id');
      const mine = await server.json('/v1/memories/search' + alice.q, { method: 'POST', headers: alice.headers, body: JSON.stringify({ query: 'allergic peanuts dog', top_k: 10 }) });
      assert.ok(mine.body.data.length >= 1);
      assert.ok(mine.body.data.every((m) => m.namespace.user_id === 'alice'));

      // Erase: bob may not erase alice; alice's erasure removes all she could see as hers.
      const denied = await server.json('/v1/users/alice/memories' + bob.q, { method: 'DELETE', headers: bob.headers });
      assert.equal(denied.status, 403);
      const erased = await server.json('/v1/users/alice/memories' + alice.q, { method: 'DELETE', headers: alice.headers });
      assert.equal(erased.status, 200);
      assert.equal(erased.body.deleted, 2);
      assert.deepEqual((await server.json('/v1/memories' + alice.q, { headers: alice.headers })).body.data, []);
      assert.equal((await server.json(`/v1/memories/${rex}` + alice.q, { headers: alice.headers })).status, 404);
      // Bob's and the project-wide records are untouched.
      const all = await server.json('/v1/memories');
      assert.deepEqual(all.body.data.map((m) => m.text).sort(), ['Bob is allergic to peanuts too.', 'The office closes at six.']);
    });
  });
}

test('header and query naming different users is a 400; a malformed header is a 400', async () => {
  await withServer({}, async ({ server }) => {
    const r = await server.json('/v1/memories?user_id=bob', { headers: { 'x-continuum-user': 'alice' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'user_mismatch');
    const long = await server.json('/v1/memories', { headers: { 'x-continuum-user': 'x'.repeat(300) } });
    assert.equal(long.status, 400);
    assert.equal(long.body.error.param, 'X-Continuum-User');
    const turn = await server.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': 'alice' }, body: JSON.stringify({ model: 'm', input: 'hi', safety_identifier: 'bob' }) });
    assert.equal(turn.status, 403);
    assert.equal(turn.body.error.param, 'safety_identifier');
    const legacy = await server.json('/v1/responses?user_id=alice', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'hi', user: 'bob' }) });
    assert.equal(legacy.status, 403);
    assert.equal(legacy.body.error.param, 'user');
    // The server keeps serving.
    assert.equal((await server.json('/v1/memories')).status, 200);
  });
});

test('a turn of bob never receives alice\'s records in its context', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    await server.json('/v1/memories', { method: 'POST', headers: { 'x-continuum-user': 'alice' }, body: JSON.stringify({ text: 'The user is allergic to peanuts.' }) });
    await client.responses.create({ model: 'm', input: 'I am allergic to peanuts.', safety_identifier: 'alice' });
    await jobsSettled(server, 1);
    const chat = () => upstream.requests.filter((r) => !r.body.response_format).at(-1);
    for (const init of [{ headers: { 'x-continuum-user': 'bob' } }, { q: '?user_id=bob', headers: {} }, { headers: {}, body: { safety_identifier: 'bob' } }]) {
      const r = await server.json('/v1/responses' + (init.q || ''), { method: 'POST', headers: init.headers, body: JSON.stringify({ model: 'm', input: 'Are peanuts allergic snacks ok?', ...(init.body || {}) }) });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.memories_used ?? [], []);
      assert.doesNotMatch(JSON.stringify(chat().body.messages), /allergic to peanuts\./);
    }
    // Bob's view of the job queue holds none of alice's jobs.
    const bobJobs = await server.json('/v1/memory/jobs', { headers: { 'x-continuum-user': 'bob' } });
    assert.ok(bobJobs.body.data.length >= 1);
    assert.ok(bobJobs.body.data.every((j) => j.user_id === 'bob'));
    const aliceJobs = await server.json('/v1/memory/jobs?user_id=alice');
    assert.ok(aliceJobs.body.data.length >= 1 && aliceJobs.body.data.every((j) => j.user_id === 'alice'));
    // Control: alice's turn does receive them.
    await server.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': 'alice' }, body: JSON.stringify({ model: 'm', input: 'Are peanuts allergic snacks ok?' }) });
    assert.match(JSON.stringify(chat().body.messages), /allergic to peanuts/);
  });
});

test('through the official SDK: the acting user in a default header scopes the turn\'s memory, and a mismatching body user is refused', async () => {
  await withServer({}, async ({ server, upstream }) => {
    await server.json('/v1/memories', { method: 'POST', headers: { 'x-continuum-user': 'alice' }, body: JSON.stringify({ text: 'The user is allergic to peanuts.' }) });
    const asBob = new OpenAI({ apiKey: KEY, baseURL: `${server.base}/v1`, maxRetries: 0, defaultHeaders: { 'X-Continuum-User': 'bob' } });
    const asAlice = new OpenAI({ apiKey: KEY, baseURL: `${server.base}/v1`, maxRetries: 0, defaultHeaders: { 'X-Continuum-User': 'alice' } });
    const chat = () => JSON.stringify(upstream.requests.filter((r) => !r.body.response_format).at(-1).body.messages);
    const b = await asBob.responses.create({ model: 'm', input: 'Are peanuts allergic snacks ok?' });
    assert.deepEqual(b.memories_used ?? [], []);
    assert.doesNotMatch(chat(), /allergic to peanuts\./);
    const a = await asAlice.responses.create({ model: 'm', input: 'Are peanuts allergic snacks ok?' });
    assert.equal(a.memories_used.length, 1);
    assert.match(chat(), /allergic to peanuts/);
    await assert.rejects(asAlice.responses.create({ model: 'm', input: 'hi', user: 'bob' }),
      (e) => e.status === 403 && e.param === 'user' && e.code === 'user_mismatch');
    await assert.rejects(asAlice.responses.create({ model: 'm', input: 'hi', safety_identifier: 'bob' }),
      (e) => e.status === 403 && e.param === 'safety_identifier');
  });
});
