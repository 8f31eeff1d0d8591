// Tool servers registered per project: a request names an MCP server by label alone; the end
// user's credential comes from the vault at call time, reaches the server, and never the model,
// a response or the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer } from './harness.mjs';
import { startMcpServer } from './mcp-fixture.mjs';

const SECRET = 'tok_alice_planted_9137';

test('tool servers: label-only requests, per-user vault credentials, allowed tools, errors', async () => {
  const mcp = await startMcpServer({ requireToken: SECRET });
  try {
    await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, upstream }) => {
      const reg = await server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify({
        label: 'fx', url: mcp.url, description: 'fixture', auth: { provider: 'fxapi', owner: 'user' }, allowed_tools: ['echo', 'add'] }) });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      assert.equal(reg.body.auth.provider, 'fxapi');
      const listed = await server.json('/v1/tool_servers');
      assert.deepEqual(listed.body.data.map((s) => s.label), ['fx']);
      // Alice's credential, stored for her in the vault.
      const put = await server.json('/v1/vault/secrets', { method: 'POST', headers: { 'x-continuum-user': 'alice' },
        body: JSON.stringify({ provider: 'fxapi', value: SECRET }) });
      assert.equal(put.status, 200, JSON.stringify(put.body));

      const ask = (user, input, extra = {}) => server.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': user },
        body: JSON.stringify({ model: 'm', input, tools: [{ type: 'mcp', server_label: 'fx', ...extra }] }) });
      const r = await ask('alice', 'MCP_CALL echo {"text":"hi"}');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.output[0].tools.map((t) => t.name).sort(), ['add', 'echo'], 'the registry bounds the tools');
      const call = r.body.output.find((o) => o.type === 'mcp_call');
      assert.equal(call.output, 'echo:hi', JSON.stringify(r.body.output));
      assert.equal(mcp.calls.at(-1).headers.authorization, `Bearer ${SECRET}`);
      // The request's allowed_tools narrow further; the registry's approval mode is the default.
      const narrow = await ask('alice', 'MCP_CALL add {"a":1,"b":2}', { allowed_tools: ['echo'] });
      assert.deepEqual(narrow.body.output[0].tools.map((t) => t.name), ['echo']);
      assert.ok(!narrow.body.output.some((o) => o.type === 'mcp_call'));
      // Bob has no credential: the listing fails, saying so, and nothing reaches the server.
      const before = mcp.calls.length;
      const b = await ask('bob', 'MCP_CALL echo {"text":"bob"}');
      assert.equal(b.status, 200);
      assert.match(b.body.output[0].error, /No usable 'fxapi' credential/);
      assert.equal(mcp.calls.length, before);
      // The secret went to the MCP server only.
      const stored = await server.json(`/v1/responses/${r.body.id}`);
      for (const text of [JSON.stringify(r.body), JSON.stringify(stored.body), JSON.stringify(upstream.requests), server.log, JSON.stringify(listed.body)])
        assert.ok(!text.includes(SECRET), 'the credential leaked');
      // Each use of the credential is audited.
      const audit = await server.json('/v1/admin/audit?action=vault.read');
      assert.ok(audit.body.data.some((e) => JSON.stringify(e.detail).includes(r.body.id)), JSON.stringify(audit.body).slice(0, 800));
      // Unknown labels are a 400 at request time.
      const unknown = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x', tools: [{ type: 'mcp', server_label: 'nope' }] }) });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.param, 'tools.server_label');
      // Removal.
      assert.equal((await server.json('/v1/tool_servers/fx', { method: 'DELETE' })).status, 200);
      assert.equal((await server.json('/v1/tool_servers/fx')).status, 404);
      assert.equal((await ask('alice', 'x')).status, 400);
    });
  } finally {
    await mcp.close();
  }
});

test('tool servers: validation, admin scope, and durability across restart', async () => {
  await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server }) => {
    const post = (body, key) => server.json('/v1/tool_servers', { method: 'POST', key, body: JSON.stringify(body) });
    const cases = [
      [{ url: 'http://127.0.0.1:1/mcp' }, 'label'],
      [{ label: 'a b', url: 'http://127.0.0.1:1/mcp' }, 'label'],
      [{ label: 'x', url: 'file:///etc/passwd' }, 'url'],
      [{ label: 'x', url: 'http://127.0.0.1:1/mcp', auth: { owner: 'user' } }, 'auth.provider'],
      [{ label: 'x', url: 'http://127.0.0.1:1/mcp', auth: { provider: 'p', scheme: 'header' } }, 'auth.header'],
      [{ label: 'x', url: 'http://127.0.0.1:1/mcp', auth: { provider: 'p', owner: 'everyone' } }, 'auth.owner'],
      [{ label: 'x', url: 'http://127.0.0.1:1/mcp', require_approval: 'maybe' }, 'require_approval'],
      [{ label: 'x', url: 'http://127.0.0.1:1/mcp', allowed_tools: [1] }, 'allowed_tools'],
      [{ label: 'x', url: 'http://127.0.0.1:1/mcp', secret: 'nope' }, 'secret'],
    ];
    for (const [body, param] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    const worker = (await server.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'w', scopes: ['responses'] }) })).body.value;
    assert.equal((await post({ label: 'x', url: 'http://127.0.0.1:1/mcp' }, worker)).status, 403);
    assert.equal((await post({ label: 'x', url: 'http://127.0.0.1:1/mcp', auth: { provider: 'p', scheme: 'header', header: 'X-Api-Key' } })).status, 200);
    await server.kill9();
    await server.start();
    const got = await server.json('/v1/tool_servers/x');
    assert.equal(got.status, 200);
    assert.equal(got.body.auth.header, 'X-Api-Key');
  });
});
