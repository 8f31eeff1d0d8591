// Schedules: background turns as an agent, for a user, on an interval or a cron expression;
// run now; the last run recorded; errors; admin only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, sleep } from './harness.mjs';

test('schedules: an interval schedule runs the agent for its user; run now; cron validation; deletion', async () => {
  await withServer({}, async ({ server, upstream }) => {
    const post = (p, body, init = {}) => server.json(p, { method: 'POST', body: JSON.stringify(body), ...init });
    await post('/v1/agents', { name: 'digest', model: 'm-digest', instructions: 'Summarize the day.' });
    const s = await post('/v1/schedules', { agent: 'digest', every_seconds: 1, input: 'daily digest please', user: 'ada', description: 'digest' });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.ok(s.body.next_run_at > 0);
    // It fires within a couple of seconds, as the agent, for ada.
    let got;
    for (let i = 0; i < 100; i++) {
      got = (await server.json(`/v1/schedules/${s.body.id}`)).body;
      if (got.last_response_id) break;
      await sleep(50);
    }
    assert.ok(got.last_response_id, JSON.stringify(got));
    assert.equal(got.last_error, null);
    let r;
    for (let i = 0; i < 100; i++) {
      r = await server.json(`/v1/responses/${got.last_response_id}?user_id=ada`);
      if (r.body.status === 'completed') break;
      await sleep(50);
    }
    assert.equal(r.body.status, 'completed', JSON.stringify(r.body));
    assert.equal(r.body.agent.name, 'digest');
    assert.equal(r.body.metadata.schedule_id, s.body.id);
    assert.ok(upstream.requests.some((q) => q.body.model === 'm-digest' && q.body.messages.some((m) => m.content === 'daily digest please')));
    assert.equal((await server.json(`/v1/responses/${got.last_response_id}?user_id=bob`)).status, 404, "the run is ada's");
    // Deleting stops it.
    assert.equal((await server.json(`/v1/schedules/${s.body.id}`, { method: 'DELETE' })).status, 200);
    const count = upstream.requests.filter((q) => q.body.model === 'm-digest').length;
    await sleep(2500);
    assert.ok(upstream.requests.filter((q) => q.body.model === 'm-digest').length <= count + 1, 'no more runs after deletion');

    // A cron schedule (next Monday 09:00 UTC at the latest), run now.
    const weekly = await post('/v1/schedules', { agent: 'digest', cron: '0 9 * * 1', input: 'weekly' });
    assert.equal(weekly.status, 200, JSON.stringify(weekly.body));
    assert.ok(weekly.body.next_run_at - Date.now() / 1000 <= 7 * 86400 + 60);
    assert.equal(new Date(weekly.body.next_run_at * 1000).getUTCDay(), 1);
    const now = await post(`/v1/schedules/${weekly.body.id}/run`, {});
    assert.equal(now.status, 200);
    assert.ok(now.body.response_id.startsWith('resp_'));
    // Errors.
    for (const [body, param] of [
      [{ agent: 'digest', input: 'x' }, 'cron'], [{ agent: 'digest', input: 'x', cron: '* * *' }, 'cron'],
      [{ agent: 'digest', input: 'x', cron: '* * * * *', every_seconds: 5 }, 'cron'], [{ agent: 'nobody', input: 'x', every_seconds: 5 }, 'agent'],
      [{ agent: 'digest', input: '', every_seconds: 5 }, 'input'], [{ agent: 'digest', input: 'x', every_seconds: 0 }, 'every_seconds'],
      [{ agent: 'digest', input: 'x', every_seconds: 5, colour: 1 }, 'colour'],
    ]) {
      const e = await post('/v1/schedules', body);
      assert.ok(e.status === 400 || e.status === 404, JSON.stringify(body));
      assert.equal(e.body.error.param, param, JSON.stringify(e.body));
    }
    const worker = (await post('/v1/admin/keys', { name: 'w', scopes: ['responses'] })).body.value;
    assert.equal((await server.json('/v1/schedules', { key: worker })).status, 403);
  });
});
