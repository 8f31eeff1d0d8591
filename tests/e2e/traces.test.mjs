// OpenTelemetry traces over OTLP/HTTP (JSON), received by a local collector that records what it
// is sent: a span per run, agent, model call and tool call with GenAI attributes, linked across
// handoffs and child runs, joined to the caller's traceparent; log lines carry the trace id;
// what is queued is flushed at shutdown; a collector that is down stalls nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Server, sleep } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

// A minimal OTLP/HTTP JSON receiver.
async function startCollector() {
  const posts = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      posts.push({ path: req.url, headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const spans = () => posts.flatMap((p) => p.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)));
  return { url: `http://127.0.0.1:${srv.address().port}`, posts, spans, close: () => new Promise((r) => srv.close(r)) };
}

const attr = (span, key) => {
  const a = span.attributes.find((x) => x.key === key);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.boolValue ?? v.doubleValue ?? v.arrayValue?.values.map((x) => x.stringValue));
};
const post = (server, p, body) => server.json(p, { method: 'POST', body: JSON.stringify(body) });

async function waitFor(pred, what, ms = 5000) {
  for (let i = 0; i < ms / 50; i++) {
    const v = pred();
    if (v) return v;
    await sleep(50);
  }
  assert.fail('timed out waiting for ' + what);
}

test('traces: runs, agents, model and tool calls as GenAI spans, linked across handoffs and child runs', async () => {
  const collector = await startCollector();
  const upstream = await startFakeUpstream();
  const server = new Server({
    upstream, args: ['--log-json'],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url + '/', OTEL_BSP_SCHEDULE_DELAY: '100', OTEL_SERVICE_NAME: 'continuum-test',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20otlp-secret-77, x-tenant = t1' },
  });
  await server.start();
  try {
    const client = server.client();
    await post(server, '/v1/agents', { name: 'billing', model: 'm-billing', instructions: 'You are billing.' });
    await post(server, '/v1/agents', { name: 'triage', model: 'm-triage', instructions: 'You route.', handoffs: ['billing'] });
    await post(server, '/v1/agents', { name: 'researcher', model: 'm-research', instructions: 'You research.' });
    await post(server, '/v1/agents', { name: 'lead', model: 'm-lead', instructions: 'You lead.', tools: [{ type: 'agent', agent: 'researcher' }] });

    // A handoff inside one run.
    const h = await client.responses.create({ model: 'agent:triage', input: 'MCP_CALL transfer_to_billing {}' });
    const root = await waitFor(() => collector.spans().find((s) => attr(s, 'gen_ai.response.id') === h.id && !s.parentSpanId), 'the run span');
    await waitFor(() => collector.spans().some((s) => s.name === 'chat m-billing' && s.traceId === root.traceId), 'the second model call');
    const trace = collector.spans().filter((s) => s.traceId === root.traceId);
    assert.equal(root.name, 'invoke_agent triage');
    assert.equal(attr(root, 'gen_ai.operation.name'), 'invoke_agent');
    assert.equal(attr(root, 'gen_ai.agent.name'), 'triage');
    assert.equal(attr(root, 'gen_ai.agent.version'), '1');
    assert.equal(attr(root, 'continuum.response.status'), 'completed');
    assert.ok(attr(root, 'gen_ai.usage.output_tokens') > 0);
    assert.equal(root.status.code, 1);
    assert.ok(BigInt(root.endTimeUnixNano) >= BigInt(root.startTimeUnixNano));
    const byName = (n) => trace.filter((s) => s.name === n);
    const [chatTriage] = byName('chat m-triage');
    assert.equal(chatTriage.parentSpanId, root.spanId);
    assert.equal(chatTriage.kind, 3, 'a model call is a client span');
    assert.equal(attr(chatTriage, 'gen_ai.request.model'), 'm-triage');
    assert.equal(attr(chatTriage, 'gen_ai.provider.name'), 'openai');
    assert.deepEqual(attr(chatTriage, 'gen_ai.response.finish_reasons'), ['tool_calls']);
    const [transfer] = byName('execute_tool transfer_to_billing');
    assert.equal(transfer.parentSpanId, root.spanId);
    assert.equal(attr(transfer, 'gen_ai.tool.name'), 'transfer_to_billing');
    const [billing] = byName('invoke_agent billing');
    assert.equal(billing.parentSpanId, root.spanId, 'the agent handed to runs under the run');
    assert.deepEqual(billing.links.map((l) => l.spanId), [root.spanId], 'and is linked to the agent it came from');
    const [chatBilling] = byName('chat m-billing');
    assert.equal(chatBilling.parentSpanId, billing.spanId);
    assert.ok(attr(chatBilling, 'gen_ai.usage.input_tokens') > 0);

    // An agent called as a tool, in a trace the caller started (traceparent).
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736', callerSpan = '00f067aa0ba902b7';
    const l = await client.responses.create({ model: 'agent:lead', input: 'MCP_CALL ask_researcher {"input":"find it"}' },
      { headers: { traceparent: `00-${callerTrace}-${callerSpan}-01` } });
    const kidId = JSON.parse(l.output.find((o) => o.type === 'agent_call').output).response_id;
    const lead = await waitFor(() => collector.spans().find((s) => attr(s, 'gen_ai.response.id') === l.id), 'the lead run');
    assert.equal(lead.traceId, callerTrace, 'the run joins the caller\'s trace');
    assert.equal(lead.parentSpanId, callerSpan);
    const kid = await waitFor(() => collector.spans().find((s) => attr(s, 'gen_ai.response.id') === kidId), 'the child run');
    const ask = collector.spans().find((s) => s.name === 'execute_tool ask_researcher' && s.traceId === callerTrace);
    assert.equal(ask.parentSpanId, lead.spanId);
    assert.equal(kid.traceId, callerTrace, 'the child run is in the same trace');
    assert.equal(kid.parentSpanId, ask.spanId, 'under the call that started it');
    assert.equal(kid.name, 'invoke_agent researcher');
    assert.equal(attr(kid, 'continuum.agent.depth'), 1);

    // A failed run is an error span; a malformed traceparent starts a new trace.
    const f = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'FAIL_ALWAYS' }), headers: { traceparent: '00-zz-bad-01' } });
    assert.equal(f.status, 502);
    const failed = await waitFor(() => collector.spans().find((s) => s.name === 'invoke_agent' && attr(s, 'continuum.response.status') === 'failed'), 'the failed run');
    assert.equal(failed.status.code, 2);
    assert.ok(failed.status.message.length > 0);
    assert.equal(failed.parentSpanId, undefined);
    assert.equal(collector.spans().find((s) => s.name === 'chat m' && s.traceId === failed.traceId).status.code, 2);

    // The export: OTLP/HTTP JSON at /v1/traces, with the configured headers and resource.
    const p = collector.posts[0];
    assert.equal(p.path, '/v1/traces');
    assert.equal(p.headers['content-type'], 'application/json');
    assert.equal(p.headers.authorization, 'Bearer otlp-secret-77');
    assert.equal(p.headers['x-tenant'], 't1');
    const res = p.body.resourceSpans[0].resource.attributes;
    assert.equal(res.find((a) => a.key === 'service.name').value.stringValue, 'continuum-test');
    // Log lines are JSON and carry the trace id of their run.
    const lines = server.log.split('\n').filter((x) => x.startsWith('{')).map((x) => JSON.parse(x));
    assert.ok(lines.some((x) => x.trace_id === root.traceId && x.msg.includes(h.id)), 'the run\'s log line carries its trace id');
    assert.ok(lines.some((x) => x.trace_id === callerTrace && x.msg.includes('POST /v1/responses')), 'the access line carries the caller\'s trace id');
    assert.ok(!server.log.includes('otlp-secret-77'), 'exporter headers are never logged');
  } finally {
    await server.stop();
    server.cleanup();
    await upstream.close();
    await collector.close();
  }
});

test('traces: queued spans are flushed at shutdown; a collector that is down stalls nothing', async () => {
  const collector = await startCollector();
  const upstream = await startFakeUpstream();
  // Batches every minute: only the shutdown flush can deliver within the test.
  const server = new Server({ upstream, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: collector.url + '/custom/path', OTEL_BSP_SCHEDULE_DELAY: '60000' } });
  await server.start();
  const client = server.client();
  const r = await client.responses.create({ model: 'm', input: 'hello' });
  await sleep(300);
  assert.equal(collector.posts.length, 0);
  await server.stop();
  assert.equal(collector.posts.length, 1, 'flushed once at shutdown');
  assert.equal(collector.posts[0].path, '/custom/path');
  assert.ok(collector.spans().some((s) => attr(s, 'gen_ai.response.id') === r.id));
  await collector.close();

  // The collector is gone: turns go on, and the failure is one warning.
  const down = new Server({ upstream, dataDir: server.dataDir, env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '50' } });
  await down.start();
  const c2 = down.client();
  for (let i = 0; i < 5; i++) {
    const x = await c2.responses.create({ model: 'm', input: `turn ${i}` });
    assert.equal(x.status, 'completed');
    await sleep(60);
  }
  await sleep(200);
  assert.equal((down.log.match(/trace export to .* failed/g) || []).length, 1, down.log);
  const metrics = await down.fetch('/metrics');
  assert.match(await metrics.text(), /continuum_trace_spans_dropped [1-9]/);
  await down.stop();
  down.cleanup();
  await upstream.close();
});
