// Usage: every ended turn counted with its commit — tokens and estimated cost by day, agent, end
// user and model, as JSON and CSV; store: false turns count too; it survives kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Server } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

test('usage: tokens and cost by agent, user and model; CSV; store:false; durable; admin only', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-usage-'));
  const config = path.join(dir, 'continuum.toml');
  fs.writeFileSync(config, '[pricing."m-priced"]\ninput = 2.0\noutput = 8.0\n');
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream, args: ['--config', config] });
  await server.start();
  try {
    const post = (body, headers = {}) => server.json('/v1/responses', { method: 'POST', headers, body: JSON.stringify(body) });
    await server.json('/v1/agents', { method: 'POST', body: JSON.stringify({ name: 'helper', model: 'm-priced' }) });
    // The fake upstream reports 11 input and 7 output tokens per model call.
    assert.equal((await post({ model: 'm-priced', input: 'a' })).status, 200);
    assert.equal((await post({ model: 'agent:helper', input: 'b' }, { 'x-continuum-user': 'ada' })).status, 200);
    assert.equal((await post({ model: 'agent:helper', input: 'c' }, { 'x-continuum-user': 'ada' })).status, 200);
    assert.equal((await post({ model: 'm-unpriced', input: 'd', store: false })).status, 200);
    const get = (q) => server.json(`/v1/usage?${q}`);
    const byAll = await get('group_by=agent,user,model');
    assert.equal(byAll.status, 200, JSON.stringify(byAll.body));
    const row = (agent, user, model) => byAll.body.data.find((r) => r.agent === agent && r.user === user && r.model === model);
    const ada = row('helper', 'ada', 'm-priced');
    assert.deepEqual([ada.runs, ada.input_tokens, ada.output_tokens], [2, 22, 14]);
    assert.ok(Math.abs(ada.cost_usd - (22 * 2 + 14 * 8) / 1e6) < 1e-12, String(ada.cost_usd));
    assert.equal(row('', '', 'm-priced').runs, 1);
    const unpriced = row('', '', 'm-unpriced');
    assert.equal(unpriced.runs, 1, 'a store:false turn counts');
    assert.equal(unpriced.cost_usd, null, 'no price, no cost');
    // Grouped by day only (the default): one row for today with everything.
    const day = await get('');
    assert.equal(day.body.data.length, 1);
    assert.equal(day.body.data[0].runs, 4);
    assert.equal(day.body.data[0].cost_usd, null, 'a sum with an unpriced model has no cost');
    // Filters, and CSV.
    assert.equal((await get('group_by=user&agent=helper')).body.data[0].runs, 2);
    const csv = await server.fetch('/v1/usage?group_by=agent,model&format=csv');
    assert.match(csv.headers.get('content-type'), /text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines[0], 'agent,model,runs,failed_runs,input_tokens,output_tokens,cached_tokens,cost_usd');
    assert.ok(lines.includes('helper,m-priced,2,0,22,14,0,0.000156'), lines.join('\n'));
    // Bad parameters.
    for (const q of ['start=yesterday', 'group_by=colour', 'format=xml', 'start=2026-12-09&end=2026-12-01'])
      assert.equal((await get(q)).status, 400, q);
    // Admin only; another project sees nothing of this one.
    const worker = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'w', scopes: ['responses'] }) })).body.value;
    assert.equal((await server.json('/v1/usage', { key: worker })).status, 403);
    await server.json('/v1/admin/projects', { method: 'POST', body: JSON.stringify({ name: 'B', id: 'proj_usage_b' }) });
    const other = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'o', project_id: 'proj_usage_b', scopes: ['admin'] }) })).body.value;
    assert.ok(other, 'a key for another project');
    assert.deepEqual((await server.json('/v1/usage', { key: other })).body.data, []);
    // Counted with the commit: kill -9 loses nothing acknowledged.
    assert.equal((await post({ model: 'm-priced', input: 'e' })).status, 200);
    await server.kill9();
    await server.start();
    const after = await get('group_by=agent');
    assert.equal(after.body.data.find((r) => r.agent === '').runs, 3);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
