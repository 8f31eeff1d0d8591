// kill -9 in the middle of a tool loop: the run resumes after restart; a call that finished is
// not repeated (its recorded output is used), a call in flight is repeated only when its tool is
// idempotent, otherwise the model is told it was interrupted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, sleep } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';
import { startMcpServer } from './mcp-fixture.mjs';

async function setup() {
  const upstream = await startFakeUpstream();
  const mcp = await startMcpServer({});
  const server = new Server({ upstream, env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } });
  await server.start();
  const done = async () => { await server.stop(); await mcp.close(); await upstream.close(); server.cleanup(); };
  return { upstream, mcp, server, done };
}

async function until(pred, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(25);
  }
  throw new Error('condition not met in time');
}

async function finished(server, id) {
  let body;
  await until(async () => {
    const r = await server.json(`/v1/responses/${id}`);
    body = r.body;
    return r.status === 200 && !['queued', 'in_progress'].includes(body.status);
  }, 20000);
  return body;
}

test('kill -9 during a background tool loop: the finished call is not repeated, the non-idempotent one in flight is not retried', async () => {
  const { mcp, server, done } = await setup();
  try {
    const tools = [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never' }];
    const r = await server.client().responses.create({ model: 'm', background: true, tools,
      input: 'MCP_CALL charge {"amount":9} MCP_CALL slow {"ms":5000}' });
    await until(() => mcp.calls.some((c) => c.name === 'slow') && mcp.calls.some((c) => c.name === 'charge'));
    await sleep(1000);  // the finished charge is journaled
    await server.kill9();
    await server.start();
    const body = await finished(server, r.id);
    assert.equal(body.status, 'completed', JSON.stringify(body));
    assert.equal(mcp.calls.filter((c) => c.name === 'charge').length, 1, 'charge ran once');
    assert.equal(mcp.calls.filter((c) => c.name === 'slow').length, 1, 'slow was not repeated');
    const calls = body.output.filter((o) => o.type === 'mcp_call');
    assert.equal(calls.find((c) => c.name === 'charge').output, 'charged 9', JSON.stringify(calls));
    const slow = calls.find((c) => c.name === 'slow');
    assert.equal(slow.status, 'failed');
    assert.match(slow.error, /not repeated because 'slow' is not idempotent/);
    assert.match(body.output.find((o) => o.type === 'message').content[0].text, /tool said/);
  } finally {
    await done();
  }
});

test('kill -9 during a foreground tool loop: an idempotent call in flight runs again and the response completes', async () => {
  const { mcp, server, done } = await setup();
  try {
    const tools = [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never' }];
    const pending = server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', tools, input: 'MCP_CALL slow_read {"ms":3000}' }) })
      .catch(() => null);
    await until(() => mcp.calls.some((c) => c.name === 'slow_read'));
    // A client whose connection died never learned the response id: the server's log names it.
    await server.kill9();
    await pending;
    await server.start();
    await until(() => mcp.calls.filter((c) => c.name === 'slow_read').length === 2, 15000);
    assert.equal(mcp.calls.filter((c) => c.name === 'slow_read').length, 2, 'the idempotent call ran again');
    assert.ok(/resuming interrupted response (resp_\w+)/.test(server.log), server.log);
    await server.waitLog(/resuming interrupted response (resp_\w+)/);
    const id = server.log.match(/resuming interrupted response (resp_\w+)/)[1];
    const body = await finished(server, id);
    assert.equal(body.status, 'completed');
    assert.equal(body.output.find((o) => o.type === 'mcp_call').output, 'read after 3000');
  } finally {
    await done();
  }
});
