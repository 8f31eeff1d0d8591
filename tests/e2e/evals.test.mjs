// The Evals API through the official SDK (client.evals.*): evals, runs over given items, over a
// model sampled through a template, over the project's stored responses (no model called), the
// graders against known answers (judges through the recording fake upstream), cancellation,
// resumption after kill -9, and bad definitions answered with 400s naming the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Server, withServer, sleep, BIN, KEY } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

const chat = (upstream) => upstream.requests.filter((q) => q.body?.messages);

async function finished(client, evalId, runId, ms = 30000) {
  for (let i = 0; i < ms / 50; i++) {
    const r = await client.evals.runs.retrieve(runId, { eval_id: evalId });
    if (!['queued', 'in_progress'].includes(r.status)) return r;
    await sleep(50);
  }
  throw new Error('the run did not finish');
}

async function allItems(client, evalId, runId) {
  const out = [];
  for await (const it of client.evals.runs.outputItems.list(runId, { eval_id: evalId, limit: 2 })) out.push(it);
  return out;
}

const exact = { type: 'string_check', name: 'exact', input: '{{sample.output_text}}', reference: '{{item.expected}}', operation: 'eq' };
const similar = { type: 'text_similarity', name: 'similar', input: '{{sample.output_text}}', reference: '{{item.expected}}', evaluation_metric: 'fuzzy_match', pass_threshold: 0.8 };
const schema = { type: 'object', properties: { expected: { type: 'string' } }, required: ['expected'] };

test('evals: create, retrieve, update, list, delete through the SDK', async () => {
  await withServer({}, async ({ client }) => {
    const e = await client.evals.create({ name: 'capitals', data_source_config: { type: 'custom', item_schema: schema, include_sample_schema: true }, testing_criteria: [exact, similar], metadata: { team: 'geo' } });
    assert.match(e.id, /^eval_/);
    assert.equal(e.object, 'eval');
    assert.equal(e.data_source_config.type, 'custom');
    assert.deepEqual(e.data_source_config.schema.properties.item, schema);
    assert.deepEqual(e.data_source_config.schema.required, ['item', 'sample']);
    assert.equal(e.testing_criteria.length, 2);
    const got = await client.evals.retrieve(e.id);
    assert.deepEqual(got, e);
    const renamed = await client.evals.update(e.id, { name: 'capitals v2' });
    assert.equal(renamed.name, 'capitals v2');
    assert.deepEqual(renamed.metadata, { team: 'geo' });
    const e2 = await client.evals.create({ data_source_config: { type: 'logs' }, testing_criteria: [exact] });
    const ids = [];
    for await (const x of client.evals.list({ limit: 1 })) ids.push(x.id);
    assert.deepEqual(ids, [e.id, e2.id]);
    const del = await client.evals.delete(e.id);
    assert.deepEqual(del, { object: 'eval.deleted', deleted: true, eval_id: e.id });
    await assert.rejects(client.evals.retrieve(e.id), (err) => err.status === 404);
  });
});

test('a jsonl run grades given samples: counts per run and per criterion, output items, no model called', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const e = await client.evals.create({ name: 'given', data_source_config: { type: 'custom', item_schema: schema, include_sample_schema: true }, testing_criteria: [exact, similar] });
    const before = chat(upstream).length;
    const run = await client.evals.runs.create(e.id, {
      name: 'r1',
      data_source: { type: 'jsonl', source: { type: 'file_content', content: [
        { item: { expected: 'Paris' }, sample: { output_text: 'Paris' } },
        { item: { expected: 'Madrid' }, sample: { output_text: 'Madrld' } },
        { item: { expected: 'Rome' }, sample: { output_text: 'Berlin' } },
      ] } },
    });
    assert.equal(run.object, 'eval.run');
    assert.equal(run.eval_id, e.id);
    const done = await finished(client, e.id, run.id);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result_counts, { total: 3, passed: 1, failed: 2, errored: 0 });
    assert.deepEqual(done.per_testing_criteria_results, [
      { testing_criteria: 'exact', passed: 1, failed: 2 },
      { testing_criteria: 'similar', passed: 2, failed: 1 },
    ]);
    assert.equal(chat(upstream).length, before, 'no model call');
    const items = await allItems(client, e.id, run.id);
    assert.deepEqual(items.map((i) => i.datasource_item_id), [0, 1, 2]);
    assert.deepEqual(items.map((i) => i.status), ['pass', 'fail', 'fail']);
    const madrid = items[1];
    assert.equal(madrid.results.find((r) => r.name === 'similar').passed, true);
    assert.ok(Math.abs(madrid.results.find((r) => r.name === 'similar').score - 10 / 12) < 1e-9);
    const one = await client.evals.runs.outputItems.retrieve(madrid.id, { eval_id: e.id, run_id: run.id });
    assert.deepEqual(one, madrid);
    const failing = [];
    for await (const it of client.evals.runs.outputItems.list(run.id, { eval_id: e.id, status: 'fail' })) failing.push(it.datasource_item_id);
    assert.deepEqual(failing, [1, 2]);
    const runs = [];
    for await (const r of client.evals.runs.list(e.id)) runs.push(r.id);
    assert.deepEqual(runs, [run.id]);
  });
});

test('a completions run samples the model through its template; judges answer as JSON', async () => {
  await withServer({}, async ({ client, upstream }) => {
    const judge = { type: 'label_model', name: 'judge', model: 'gpt-4o', labels: ['yes', 'no'], passing_labels: ['yes'],
                    input: [{ role: 'system', content: 'Is the answer acceptable? Say yes or no.' }, { role: 'user', content: 'Verdict on: {{item.verdict}}' }] };
    const scorer = { type: 'score_model', name: 'scorer', model: 'gpt-4o', range: [0, 1], pass_threshold: 0.5,
                     input: [{ role: 'user', content: 'Rate: {{sample.output_text}} {{item.mark}}' }] };
    const e = await client.evals.create({ data_source_config: { type: 'custom', item_schema: { type: 'object' } }, testing_criteria: [exact, judge, scorer] });
    const run = await client.evals.runs.create(e.id, { data_source: {
      type: 'completions', model: 'gpt-4o', input_messages: { type: 'template', template: [{ role: 'user', content: 'Say {{item.word}}' }] },
      source: { type: 'file_content', content: [
        { item: { word: 'hi', expected: 'echo: Say hi', verdict: 'yes', mark: 'GOOD' } },
        { item: { word: 'yo', expected: 'something else', verdict: 'no', mark: 'meh' } },
      ] } } });
    const done = await finished(client, e.id, run.id);
    assert.deepEqual(done.result_counts, { total: 2, passed: 1, failed: 1, errored: 0 });
    assert.deepEqual(done.per_testing_criteria_results.map((r) => [r.testing_criteria, r.passed, r.failed]), [['exact', 1, 1], ['judge', 1, 1], ['scorer', 1, 1]]);
    const usage = done.per_model_usage.find((u) => u.model_name === 'gpt-4o');
    assert.equal(usage.invocation_count, 6, 'two samples and four judgements');
    const items = await allItems(client, e.id, run.id);
    assert.equal(items[0].sample.output[0].content, 'echo: Say hi');
    assert.deepEqual(items[0].sample.input, [{ role: 'user', content: 'Say hi' }]);
    const scored = items[0].results.find((r) => r.name === 'scorer');
    assert.equal(scored.score, 0.9);
    assert.equal(items[1].results.find((r) => r.name === 'scorer').score, 0.2);
    // The judges were asked under a strict schema, with the templates rendered.
    const asked = chat(upstream).filter((q) => q.body.response_format?.type === 'json_schema');
    assert.equal(asked.length, 4);
    const labelAsk = asked.find((q) => q.body.response_format.json_schema.schema.properties.label);
    assert.equal(labelAsk.body.response_format.json_schema.strict, true);
    assert.deepEqual(labelAsk.body.response_format.json_schema.schema.properties.label.enum, ['yes', 'no']);
    assert.ok(asked.some((q) => q.body.messages.at(-1).content === 'Rate: echo: Say hi GOOD'));
  });
});

test('a responses run grades stored responses in place, selected by metadata, calling no model', async () => {
  await withServer({}, async ({ client, upstream }) => {
    for (const [q, suite] of [['one', 'a'], ['two', 'a'], ['three', 'b'], ['four', 'a']])
      await client.responses.create({ model: 'gpt-4o', input: q, metadata: { suite }, ...(q === 'two' ? { safety_identifier: 'u2' } : {}),
        ...(q === 'four' ? { tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } }] } : {}) });
    const e = await client.evals.create({ data_source_config: { type: 'logs', metadata: { suite: 'a' } },
      testing_criteria: [{ type: 'string_check', name: 'echoes', input: '{{sample.output_text}}', reference: 'echo: {{item.input}}', operation: 'eq' }] });
    const before = chat(upstream).length;
    const run = await client.evals.runs.create(e.id, { data_source: { type: 'responses', source: { type: 'responses', metadata: { suite: 'a' } } } });
    const done = await finished(client, e.id, run.id);
    assert.deepEqual(done.result_counts, { total: 3, passed: 3, failed: 0, errored: 0 });
    assert.equal(chat(upstream).length, before, 'no model call');
    const items = await allItems(client, e.id, run.id);
    assert.deepEqual(items.map((i) => i.datasource_item.input).sort(), ['four', 'one', 'two']);
    // The users and tools filters.
    for (const [filter, want] of [[{ users: ['u2'] }, ['two']], [{ tools: ['lookup'] }, ['four']]]) {
      const r = await client.evals.runs.create(e.id, { data_source: { type: 'responses', source: { type: 'responses', ...filter } } });
      await finished(client, e.id, r.id);
      assert.deepEqual((await allItems(client, e.id, r.id)).map((i) => i.datasource_item.input), want, JSON.stringify(filter));
    }
  });
});

test('trajectory, python and multi graders over stored responses with tool calls', async () => {
  await withServer({}, async ({ client }) => {
    const tools = [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
    const called = await client.responses.create({ model: 'gpt-4o', input: 'CALL_TOOL weather?', tools, metadata: { suite: 't' } });
    assert.equal(called.output[0].type, 'function_call');
    await client.responses.create({ model: 'gpt-4o', input: 'just hello', metadata: { suite: 't' } });
    const trajectory = { type: 'trajectory', name: 'weather_call', expected_tool_calls: [{ name: 'get_weather', arguments: { city: 'Paris' } }], forbidden_tools: ['charge'], max_calls: 2 };
    const python = { type: 'python', name: 'py', pass_threshold: 1,
                     source: 'def grade(sample, item):\n    return 1.0 if sample["tool_calls"] or sample["output_text"].startswith("echo") else 0.0\n' };
    const multi = { type: 'multi', name: 'blend', calculate_output: '0.5 * traj + 0.5 * echo', pass_threshold: 0.5,
                    graders: { traj: { ...trajectory, name: 'traj' }, echo: { type: 'string_check', name: 'echo', input: '{{sample.output_text}}', reference: 'echo', operation: 'like' } } };
    const e = await client.evals.create({ data_source_config: { type: 'logs' }, testing_criteria: [trajectory, python, multi] });
    const run = await client.evals.runs.create(e.id, { data_source: { type: 'responses', source: { type: 'responses', metadata: { suite: 't' } } } });
    const done = await finished(client, e.id, run.id);
    const items = await allItems(client, e.id, run.id);
    assert.deepEqual(done.result_counts, { total: 2, passed: 1, failed: 1, errored: 0 }, JSON.stringify(items.map((i) => i.results)));
    assert.deepEqual(done.per_testing_criteria_results.map((r) => [r.testing_criteria, r.passed, r.failed]), [['weather_call', 1, 1], ['py', 2, 0], ['blend', 2, 0]]);
    const byInput = Object.fromEntries(items.map((i) => [i.datasource_item.input, i]));
    const tool = byInput['CALL_TOOL weather?'];
    assert.equal(tool.status, 'pass');
    assert.deepEqual(tool.results.find((r) => r.name === 'weather_call').sample, { tool_calls: 1, matched: 1, missing: [], violations: [] });
    const plain = byInput['just hello'];
    assert.equal(plain.results.find((r) => r.name === 'weather_call').passed, false);
    assert.equal(plain.results.find((r) => r.name === 'blend').score, 0.5);
    // A python grader that raises is an error on its item, not a failed run.
    const broken = await client.evals.create({ data_source_config: { type: 'logs' }, testing_criteria: [{ type: 'python', name: 'boom', source: 'def grade(sample, item):\n    raise ValueError("no")\n' }] });
    const r2 = await client.evals.runs.create(broken.id, { data_source: { type: 'responses', source: { type: 'responses', metadata: { suite: 't' }, limit: 1 } } });
    const d2 = await finished(client, broken.id, r2.id);
    assert.equal(d2.status, 'completed');
    assert.deepEqual(d2.result_counts, { total: 1, passed: 0, failed: 0, errored: 1 });
    const [bad] = await allItems(client, broken.id, r2.id);
    assert.match(bad.results[0].error, /ValueError/);
  });
});

test('agents as samplers and the promotion gate: a worse version is refused with the comparison, a forced move is allowed', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const post = (p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });
    const put = (p, body) => server.json(p, { method: 'PUT', body: JSON.stringify(body) });
    // v1 answers in text; v2 has a tool, so the same questions get a tool call and no text.
    assert.equal((await post('/v1/agents', { name: 'helper', model: 'gpt-4o', instructions: 'Answer plainly.' })).status, 200);
    assert.equal((await post('/v1/agents/helper/aliases/prod', { version: 1 })).status, 200);
    const tools = [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } }];
    assert.equal((await post('/v1/agents', { name: 'helper', model: 'gpt-4o', instructions: 'Use tools.', tools })).body.version, 2);
    const e = await client.evals.create({ data_source_config: { type: 'custom', item_schema: { type: 'object' } },
      testing_criteria: [{ type: 'string_check', name: 'answers', input: '{{sample.output_text}}', reference: 'echo', operation: 'like' }] });
    const data_source = { type: 'completions', input_messages: { type: 'template', template: [{ role: 'user', content: 'CALL_TOOL {{item.q}}' }] },
                          source: { type: 'file_content', content: [{ item: { q: 'one' } }, { item: { q: 'two' } }] } };
    // An eval run that samples an agent directly.
    const run = await client.evals.runs.create(e.id, { data_source: { ...data_source, model: 'agent:helper@prod' } });
    const done = await finished(client, e.id, run.id);
    assert.deepEqual(done.result_counts, { total: 2, passed: 2, failed: 0, errored: 0 });
    const [first] = await allItems(client, e.id, run.id);
    assert.equal(first.sample.output_text, 'echo: CALL_TOOL one');
    assert.ok(upstream.requests.some((q) => q.body?.messages?.[0]?.content === 'Answer plainly.'), 'the agent ran with its own instructions');
    // The gate.
    const bad = await put('/v1/agents/helper/aliases/prod/gate', { eval_id: e.id, data_source: { type: 'completions', source: data_source.source } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'data_source.input_messages');
    const gate = await put('/v1/agents/helper/aliases/prod/gate', { eval_id: e.id, data_source, tolerance: 0.1 });
    assert.equal(gate.status, 200, JSON.stringify(gate.body));
    assert.equal((await server.json('/v1/agents/helper/aliases/prod/gate')).body.eval_id, e.id);
    const refused = await post('/v1/agents/helper/aliases/prod', { version: 2 });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'promotion_gate_failed');
    assert.equal(refused.body.comparison.candidate.version, 2);
    assert.equal(refused.body.comparison.candidate.score, 0);
    assert.equal(refused.body.comparison.current.version, 1);
    assert.equal(refused.body.comparison.current.score, 1);
    assert.equal((await server.json('/v1/agents/helper')).body.aliases.prod, 1, 'the alias did not move');
    // The runs behind the comparison are ordinary runs of the eval.
    const runs = [];
    for await (const r of client.evals.runs.list(e.id)) runs.push(r.id);
    assert.ok(runs.includes(refused.body.comparison.candidate.run_id));
    // Forced: moved, and audited as forced.
    const forced = await post('/v1/agents/helper/aliases/prod', { version: 2, force: true });
    assert.equal(forced.status, 200);
    assert.equal(forced.body.aliases.prod, 2);
    const audit = await server.json('/v1/admin/audit?limit=50');
    assert.ok(audit.body.data.some((a) => a.action === 'agent.alias' && JSON.stringify(a).includes('forced_past_gate') && JSON.stringify(a).includes('true')));
    // Back to v1 through the gate: v1 scores better than v2, so it passes, and the answer shows why.
    const back = await post('/v1/agents/helper/aliases/prod', { version: 1 });
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(back.body.gate.passed, true);
    assert.equal(back.body.gate.candidate.score, 1);
    // The same from a shell: continuum eval run, exit 0 at the bar and 1 below it.
    // (Not spawnSync: the fake upstream answering the agent lives in this process.)
    const shell = (args) => new Promise((resolve) => {
      const p = spawn(BIN, args, { env: { ...process.env, CONTINUUM_API_KEY: KEY } });
      let stdout = '', stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      p.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    const cli = (agent, ...more) => shell(['eval', 'run', '--eval', e.id, '--agent', agent, '--url', server.base, ...more]);
    const good = await cli('helper@prod', '--min-score', '0.9');
    assert.equal(good.status, 0, good.stderr);
    assert.equal(JSON.parse(good.stdout).score, 1);
    // A version by number has no gate of its own: its data source comes from a file.
    const file = path.join(server.dataDir, 'ds.json');
    fs.writeFileSync(file, JSON.stringify(data_source));
    const worse = await cli('helper@v2', '--min-score', '0.5', '--data', file);
    assert.equal(worse.status, 1, worse.stderr);
    assert.equal(JSON.parse(worse.stdout).score, 0);
    const unknown = await shell(['eval', 'run', '--eval', 'eval_nope', '--agent', 'helper@prod', '--url', server.base]);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /404/);
    assert.equal((await server.json('/v1/agents/helper/aliases/prod/gate', { method: 'DELETE' })).status, 200);
    assert.equal((await server.json('/v1/agents/helper/aliases/prod/gate')).status, 404);
  });
});

test('online evaluation: a share of an agent\'s runs graded off the serving path, a rolling pass rate per version, /metrics, a webhook below the bar', async () => {
  const got = [];
  const rx = http.createServer((req, res) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => { got.push(JSON.parse(b)); res.writeHead(204); res.end(); }); });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  try {
    await withServer({ env: { CONTINUUM_WEBHOOKS_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, client }) => {
      const post = (p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });
      const put = (p, body) => server.json(p, { method: 'PUT', body: JSON.stringify(body) });
      assert.equal((await post('/v1/agents', { name: 'greeter', model: 'gpt-4o', instructions: 'Greet.' })).status, 200);
      const hook = await post('/v1/webhooks', { url: `http://127.0.0.1:${rx.address().port}/h`, events: ['agent.eval.below_threshold'] });
      assert.equal(hook.status, 200, JSON.stringify(hook.body));
      // Passes when the answer mentions "hello".
      const e = await client.evals.create({ data_source_config: { type: 'logs' },
        testing_criteria: [{ type: 'string_check', name: 'greets', input: '{{sample.output_text}}', reference: 'hello', operation: 'ilike' }] });
      const bad = await put('/v1/agents/greeter/online_eval', { eval_id: e.id, sampling_rate: 2 });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.param, 'sampling_rate');
      const cfg = await put('/v1/agents/greeter/online_eval', { eval_id: e.id, sampling_rate: 1, window: 10, min_pass_rate: 0.5 });
      assert.equal(cfg.status, 200, JSON.stringify(cfg.body));
      // Four runs that pass, then eight that fail: the window of 10 falls to 2/10 and the hook is told once.
      for (let i = 0; i < 4; i++) assert.equal((await post('/v1/responses', { model: 'agent:greeter', input: `hello ${i}` })).status, 200);
      for (let i = 0; i < 8; i++) assert.equal((await post('/v1/responses', { model: 'agent:greeter', input: `bye ${i}` })).status, 200);
      let state;
      for (let i = 0; i < 200; i++) {
        state = (await server.json('/v1/agents/greeter/online_eval')).body;
        if (state.versions?.[0]?.graded === 12) break;
        await sleep(50);
      }
      assert.equal(state.versions[0].version, 1);
      assert.equal(state.versions[0].graded, 12);
      assert.equal(state.versions[0].window, 10);
      assert.equal(state.versions[0].pass_rate, 0.2);
      assert.equal(state.versions[0].below_threshold, true);
      const metrics = await (await server.fetch('/metrics')).text();
      assert.match(metrics, /continuum_online_eval_pass_rate\{[^}]*agent="greeter"[^}]*version="1"[^}]*\} 0\.2/);
      assert.match(metrics, /continuum_online_eval_graded\{[^}]*agent="greeter"[^}]*\} 12/);
      for (let i = 0; i < 200 && got.length === 0; i++) await sleep(50);
      await sleep(300);
      assert.equal(got.length, 1, 'told once');
      assert.equal(got[0].type, 'agent.eval.below_threshold');
      assert.equal(got[0].data.agent, 'greeter');
      assert.equal(got[0].data.version, 1);
      assert.ok(got[0].data.pass_rate < 0.5);
      // Plain turns (no agent) are not graded; sampling_rate 0 grades nothing.
      await put('/v1/agents/greeter/online_eval', { eval_id: e.id, sampling_rate: 0, window: 10 });
      await post('/v1/responses', { model: 'agent:greeter', input: 'hello again' });
      await sleep(300);
      assert.equal((await server.json('/v1/agents/greeter/online_eval')).body.versions[0].graded, 12);
      assert.equal((await server.json('/v1/agents/greeter/online_eval', { method: 'DELETE' })).status, 200);
      assert.equal((await server.json('/v1/agents/greeter/online_eval')).status, 404);
    });
  } finally {
    await new Promise((r) => rx.close(r));
  }
});

test('memory assertions: what a user\'s long-term memory must and must not hold', async () => {
  await withServer({}, async ({ server, client }) => {
    const post = (p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });
    assert.equal((await post('/v1/memories', { text: 'Alice is allergic to peanuts', user_id: 'alice' })).status, 200);
    assert.equal((await post('/v1/memories', { text: 'Bob said his password is hunter2', user_id: 'bob' })).status, 200);
    assert.equal((await post('/v1/memories', { text: 'Bob likes peanut butter', user_id: 'bob' })).status, 200);
    const e = await client.evals.create({ data_source_config: { type: 'custom', item_schema: { type: 'object' } },
      testing_criteria: [{ type: 'memory', name: 'remembers', user: '{{item.user}}', must_contain: ['PEANUT'], must_not_contain: ['password'] }] });
    const run = await client.evals.runs.create(e.id, { data_source: { type: 'jsonl', source: { type: 'file_content', content: [
      { item: { user: 'alice' } }, { item: { user: 'bob' } }, { item: { user: 'carol' } }, { item: {} }] } } });
    const done = await finished(client, e.id, run.id);
    assert.deepEqual(done.result_counts, { total: 4, passed: 1, failed: 2, errored: 1 });
    const items = await allItems(client, e.id, run.id);
    assert.equal(items[0].status, 'pass');
    assert.deepEqual(items[1].results[0].sample.present_but_forbidden, ['password']);
    assert.equal(items[1].results[0].score, 0.5);
    assert.deepEqual(items[2].results[0].sample.missing, ['PEANUT']);
    assert.match(items[3].results[0].error, /user is empty/);
    const bad = await post('/v1/evals', { data_source_config: { type: 'logs' }, testing_criteria: [{ type: 'memory', name: 'm', user: 'x' }] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'testing_criteria[0].must_contain');
  });
});

test('bad definitions are 400s naming the field; unknown ids are 404s', async () => {
  await withServer({}, async ({ server, client }) => {
    const post = (p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });
    const dsc = { type: 'custom', item_schema: schema };
    const cases = [
      [{ data_source_config: dsc, testing_criteria: [{ ...exact, type: 'regex_check' }] }, 'testing_criteria[0].type'],
      [{ data_source_config: dsc, testing_criteria: [{ ...exact, input: '{{answer}}' }] }, 'testing_criteria[0].input'],
      [{ data_source_config: dsc, testing_criteria: [{ ...exact, operation: 'contains' }] }, 'testing_criteria[0].operation'],
      [{ data_source_config: dsc, testing_criteria: [exact, { ...similar, evaluation_metric: 'meteor' }] }, 'testing_criteria[1].evaluation_metric'],
      [{ data_source_config: dsc, testing_criteria: [{ type: 'multi', name: 'm', calculate_output: 'a + b', graders: { a: exact } }] }, 'testing_criteria[0].calculate_output'],
      [{ data_source_config: dsc, testing_criteria: [{ type: 'python', name: 'p', source: 'x = 1' }] }, 'testing_criteria[0].source'],
      [{ data_source_config: dsc, testing_criteria: [{ type: 'trajectory', name: 't', max_calls: -1 }] }, 'testing_criteria[0].max_calls'],
      [{ data_source_config: { type: 'files' }, testing_criteria: [exact] }, 'data_source_config.type'],
      [{ data_source_config: dsc }, 'testing_criteria'],
      [{ data_source_config: dsc, testing_criteria: [exact], colour: 'red' }, 'colour'],
    ];
    for (const [body, param] of cases) {
      const r = await post('/v1/evals', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    const e = await client.evals.create({ data_source_config: dsc, testing_criteria: [exact] });
    const runCases = [
      [{ data_source: { type: 'jsonl', source: { type: 'file_content', content: [] } } }, 'data_source.source.content'],
      [{ data_source: { type: 'jsonl', source: { type: 'file_id', id: 'file_1' } } }, 'data_source.source.type'],
      [{ data_source: { type: 'completions', input_messages: { type: 'template', template: [{ role: 'user', content: '{{x.y}}' }] }, model: 'm', source: { type: 'file_content', content: [{ item: {} }] } } }, 'data_source.input_messages.template[0].content'],
      [{ data_source: { type: 'completions', input_messages: { type: 'template', template: [{ role: 'user', content: 'hi' }] }, source: { type: 'file_content', content: [{ item: {} }] } } }, 'data_source.model'],
    ];
    for (const [body, param] of runCases) {
      const r = await post(`/v1/evals/${e.id}/runs`, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    assert.equal((await post('/v1/evals/eval_nope/runs', { data_source: { type: 'jsonl', source: { type: 'file_content', content: [{ item: {} }] } } })).status, 404);
    assert.equal((await server.json(`/v1/evals/${e.id}/runs/evalrun_nope`)).status, 404);
    assert.equal((await server.json('/v1/evals/eval_nope')).status, 404);
    // Another project sees none of it.
    const other = server.createKey('proj_other');
    assert.equal((await server.json(`/v1/evals/${e.id}`, { key: other })).status, 404);
    assert.deepEqual((await server.json('/v1/evals', { key: other })).body.data, []);
  });
});

test('cancel stops a run; a run that kill -9 interrupted resumes and grades each item once', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    let client = server.client();
    const e = await client.evals.create({ data_source_config: { type: 'custom', item_schema: { type: 'object' } },
      testing_criteria: [{ type: 'string_check', name: 'slow', input: '{{sample.output_text}}', reference: 'w19', operation: 'like' }] });
    const content = Array.from({ length: 12 }, (_, i) => ({ item: { n: i } }));
    const ds = { type: 'completions', model: 'gpt-4o', input_messages: { type: 'template', template: [{ role: 'user', content: 'SLOW {{item.n}}' }] }, source: { type: 'file_content', content } };
    const doomed = await client.evals.runs.create(e.id, { data_source: ds });
    await sleep(300);
    const cancelled = await client.evals.runs.cancel(doomed.id, { eval_id: e.id });
    assert.equal(cancelled.status, 'canceled');
    const after = await finished(client, e.id, doomed.id);
    assert.equal(after.status, 'canceled');
    assert.ok(after.result_counts.total < 12);

    const run = await client.evals.runs.create(e.id, { data_source: ds });
    // Wait for the first items, then kill the server mid-run.
    for (let i = 0; i < 200; i++) {
      const r = await client.evals.runs.retrieve(run.id, { eval_id: e.id });
      if (r.result_counts.total >= 1) break;
      await sleep(50);
    }
    await server.kill9();
    await server.start();
    client = server.client();
    const done = await finished(client, e.id, run.id, 60000);
    assert.equal(done.status, 'completed');
    assert.deepEqual(done.result_counts, { total: 12, passed: 12, failed: 0, errored: 0 });
    const items = await allItems(client, e.id, run.id);
    assert.deepEqual(items.map((i) => i.datasource_item_id), content.map((_, i) => i), 'each item once');
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});
