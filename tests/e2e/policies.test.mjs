// Policies on every tool call: a project's Cedar policy set decides each MCP call before it
// runs; a denied call is a failed call the model sees and an audit entry, and never reaches the
// server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';
import { startMcpServer } from './mcp-fixture.mjs';

const POLICY = `
@id("small-charges")
permit (principal, action == Action::"call_tool", resource == Tool::"fx/charge") when { context.args.amount <= 100 };
@id("reads")
permit (principal, action, resource in Server::"fx") when { context.tool == "echo" || context.tool == "add" };
@id("no-bob")
forbid (principal == User::"bob", action, resource);
`;

test('policies: permit and forbid decide each call; denials are failed calls, audited, never sent', async () => {
  const mcp = await startMcpServer({});
  try {
    await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, client, upstream }) => {
      const put = await server.json('/v1/policies', { method: 'PUT', body: JSON.stringify({ policies: POLICY }) });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal(put.body.count, 3);
      const tools = [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never' }];
      const run = async (input, user) => {
        const headers = user ? { 'x-continuum-user': user } : {};
        const r = await server.json('/v1/responses', { method: 'POST', headers, body: JSON.stringify({ model: 'm', input, tools }) });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.output.find((o) => o.type === 'mcp_call');
      };
      const table = [
        ['MCP_CALL charge {"amount":50}', undefined, true],
        ['MCP_CALL charge {"amount":500}', undefined, false],
        ['MCP_CALL echo {"text":"x"}', undefined, true],
        ['MCP_CALL slow {"ms":1}', undefined, false],
        ['MCP_CALL echo {"text":"x"}', 'bob', false],
        ['MCP_CALL charge {"amount":5}', 'alice', true],
      ];
      for (const [input, user, allowed] of table) {
        const before = mcp.calls.length;
        const call = await run(input, user);
        assert.ok(call, input);
        if (allowed) {
          assert.equal(call.status, 'completed', `${input} as ${user}: ${JSON.stringify(call)}`);
          assert.equal(mcp.calls.length, before + 1);
        } else {
          assert.equal(call.status, 'failed', `${input} as ${user}`);
          assert.match(call.error, /denied/);
          assert.equal(mcp.calls.length, before, 'a denied call never reaches the server');
          assert.match(upstream.last().body.messages.at(-1).content, /denied/, 'the model is told');
        }
      }
      const bobDenied = await run('MCP_CALL add {"a":1,"b":1}', 'bob');
      assert.match(bobDenied.error, /forbidden by policy no-bob/);
      const audit = await server.json('/v1/admin/audit?action=tool.denied');
      assert.equal(audit.status, 200);
      assert.ok(audit.body.data.length >= 4, JSON.stringify(audit.body));
      assert.ok(audit.body.data.some((e) => e.target === 'fx/charge'));
      // Dry run.
      const ev = await server.json('/v1/policies/evaluate', { method: 'POST', body: JSON.stringify({
        principal: { type: 'User', id: 'carol' }, resource: { type: 'Tool', id: 'fx/charge', parents: [{ type: 'Server', id: 'fx' }] },
        context: { args: { amount: 1 }, tool: 'charge' } }) });
      assert.deepEqual([ev.body.decision, ev.body.reasons], ['allow', ['small-charges']]);
      // Removing the set allows everything again.
      assert.equal((await server.json('/v1/policies', { method: 'DELETE' })).status, 200);
      assert.equal((await run('MCP_CALL slow {"ms":1}')).status, 'completed');
    });
  } finally {
    await mcp.close();
  }
});

test('policies: bad text is a 400 naming the line; only admins manage policies; sets survive restart', async () => {
  await withServer({}, async ({ server }) => {
    const bad = await server.json('/v1/policies', { method: 'PUT', body: JSON.stringify({ policies: 'permit (principal, action, resource)\nwhen { context.x == };' }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'policies');
    assert.match(bad.body.error.message, /line 2, column/);
    for (const body of ['{', '[]', '{"policies": 5}']) {
      const r = await server.fetch('/v1/policies', { method: 'PUT', body });
      assert.equal(r.status, 400, body);
    }
    const key = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'worker', scopes: ['responses'] }) })).body.value;
    const denied = await server.json('/v1/policies', { method: 'PUT', key, body: JSON.stringify({ policies: 'forbid (principal, action, resource);' }) });
    assert.equal(denied.status, 403);
    assert.equal((await server.json('/v1/policies', { method: 'PUT', body: JSON.stringify({ policies: 'forbid (principal, action, resource);' }) })).status, 200);
    await server.kill9();
    await server.start();
    const got = await server.json('/v1/policies');
    assert.equal(got.body.policies, 'forbid (principal, action, resource);');
    assert.equal(got.body.count, 1);
  });
});
