// Prometheus metrics at GET /metrics: what happened shows up in the counters and histograms,
// with bounded labels (route patterns, never ids); only a global admin key may scrape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';

// The value of the sample `name{labels}` in a text exposition (labels given in any order).
function sample(text, name, labels = {}) {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const m = line.match(/^([^{\s]+)(?:\{(.*)\})?\s+(\S+)$/);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] || '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

test('metrics: requests, runs, tool calls, tokens and commits are counted; scraping needs a global admin', async () => {
  await withServer({}, async ({ server, client }) => {
    const scrape = async () => {
      const r = await server.fetch('/metrics');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /text\/plain; version=0.0.4/);
      return r.text();
    };
    const empty = await scrape();
    assert.equal(sample(empty, 'continuum_runs_total', { status: 'completed' }), undefined);
    await server.json('/v1/agents', { method: 'POST', body: JSON.stringify({ name: 'helper', model: 'm', tools: [{ type: 'memory' }] }) });
    const r1 = await client.responses.create({ model: 'm', input: 'hello' });
    await client.responses.create({ model: 'agent:helper', input: 'USE_MEMORY_SEARCH coffee' }, { headers: { 'x-continuum-user': 'ada' } });
    await client.responses.retrieve(r1.id);
    await server.json('/v1/responses/resp_nope');
    const text = await scrape();
    assert.equal(sample(text, 'continuum_runs_total', { status: 'completed', agent: '' }), 1);
    assert.equal(sample(text, 'continuum_runs_total', { status: 'completed', agent: 'helper' }), 1);
    assert.equal(sample(text, 'continuum_tool_calls_total', { type: 'memory_call', outcome: 'ok' }), 1);
    assert.equal(sample(text, 'continuum_model_calls_total', { outcome: 'ok' }), 3, 'two steps for the tool turn, one plain');
    assert.ok(sample(text, 'continuum_tokens_total', { kind: 'input', agent: '' }) > 0);
    assert.equal(sample(text, 'continuum_store_commit_duration_seconds_count'), 2);
    assert.equal(sample(text, 'continuum_http_requests_total', { route: '/v1/responses', method: 'POST', status: '2xx' }), 2);
    assert.equal(sample(text, 'continuum_http_requests_total', { route: '/v1/responses/{id}', method: 'GET', status: '2xx' }), 1);
    assert.equal(sample(text, 'continuum_http_requests_total', { route: '/v1/responses/{id}', method: 'GET', status: '4xx' }), 1);
    assert.ok(!text.includes(r1.id), 'labels never hold ids');
    assert.ok(sample(text, 'continuum_run_duration_seconds_count', { status: 'completed' }) === 2);
    assert.ok(sample(text, 'continuum_open_connections') >= 1);
    assert.ok(sample(text, 'continuum_chain_cache_nodes') >= 2);
    // Scraping needs a global admin key.
    assert.equal((await server.fetch('/metrics', { headers: { authorization: 'Bearer nope' } })).status, 401);
    const project = server.createKey('proj_metrics');
    assert.equal((await server.fetch('/metrics', { key: project })).status, 403);
  });
});
