// MCP authorization for a registered remote server: Continuum discovers the server's
// authorization server from its 401 (protected-resource metadata, then authorization server
// metadata), registers itself as a client, and each end user connects their own account with
// PKCE and the `resource` parameter; calls then carry that user's token, which never reaches the
// model, a response or the log. Survives a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, withServer } from './harness.mjs';
import { startMcpServer } from './mcp-fixture.mjs';
import { startOAuthMcpServer } from './mcp-oauth-fixture.mjs';

// Connects `user`'s account as a browser would: the authorization URL, the authorization
// server's redirect, Continuum's callback. Returns the callback's answer.
async function connect(server, user, provider = 'crm') {
  const begin = await server.json(`/v1/vault/oauth/${provider}/authorize`, { method: 'POST', headers: { 'x-continuum-user': user } });
  assert.equal(begin.status, 200, JSON.stringify(begin.body));
  const redirect = await fetch(begin.body.authorization_url, { redirect: 'manual' });
  assert.equal(redirect.status, 302, await redirect.text());
  const back = await fetch(redirect.headers.get('location'));
  return { begin: begin.body, status: back.status, body: await back.json() };
}

test('mcp oauth: discovery, client registration, per-user tokens bound to the resource, restart', async () => {
  const mcp = await startOAuthMcpServer();
  const env = { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' };
  try {
    await withServer({ env }, async ({ server, upstream }) => {
      const callback = `${server.base}/v1/vault/oauth/callback`;
      const reg = await server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify({
        label: 'crm', url: mcp.url, auth: { scheme: 'oauth', owner: 'user', redirect_uri: callback }, require_approval: 'never' }) });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      const found = reg.body.auth.oauth;
      assert.equal(reg.body.auth.provider, 'crm');
      assert.equal(found.issuer, mcp.issuer);
      assert.equal(found.resource, mcp.url);
      assert.equal(found.authorization_endpoint, `${mcp.issuer}authorize`);
      assert.equal(found.scopes, 'mcp:tools', 'scopes come from the resource metadata');
      // Registered dynamically, as a public client with our callback.
      assert.equal(mcp.seen.registrations.length, 1);
      assert.deepEqual(mcp.seen.registrations[0].redirect_uris, [callback]);
      assert.equal(mcp.seen.registrations[0].token_endpoint_auth_method, 'none');
      assert.ok(found.client_id);

      const ask = (user, note) => server.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': user },
        body: JSON.stringify({ model: 'm', input: `MCP_CALL whoami {"note":"${note}"}`, tools: [{ type: 'mcp', server_label: 'crm' }] }) });
      // Before connecting: the listing fails saying how to connect, and no call is made.
      const early = await ask('ada', 'early');
      assert.equal(early.status, 200, JSON.stringify(early.body));
      assert.match(early.body.output[0].error, /POST \/v1\/vault\/oauth\/crm\/authorize/);
      assert.equal(mcp.seen.calls.length, 0);

      // Ada and Bob connect; the authorization and token requests name the resource and use PKCE.
      const ada = await connect(server, 'ada');
      assert.equal(ada.status, 200, JSON.stringify(ada.body));
      assert.equal(ada.body.provider, 'crm');
      assert.deepEqual(ada.body.owner, { type: 'user', id: 'ada' });
      const authz = mcp.seen.authorizations.at(-1);
      assert.equal(authz.resource, mcp.url);
      assert.equal(authz.code_challenge_method, 'S256');
      assert.equal(authz.client_id, found.client_id);
      assert.equal(authz.scope, 'mcp:tools');
      const tokenReq = mcp.seen.tokens.at(-1);
      assert.equal(tokenReq.grant_type, 'authorization_code');
      assert.equal(tokenReq.resource, mcp.url);
      assert.ok(tokenReq.code_verifier && !('client_secret' in tokenReq), JSON.stringify(tokenReq));
      assert.equal((await connect(server, 'bob')).status, 200);

      const a = await ask('ada', 'from-ada');
      const b = await ask('bob', 'from-bob');
      for (const r of [a, b]) {
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.output.find((o) => o.type === 'mcp_call')?.status, 'completed', JSON.stringify(r.body.output));
      }
      assert.equal(mcp.seen.calls.length, 2);
      const [ca, cb] = mcp.seen.calls;
      assert.equal(ca.note, 'from-ada');
      assert.equal(cb.note, 'from-bob');
      assert.notEqual(ca.token, cb.token, 'each user calls with their own token');
      // The tokens reach the MCP server only.
      for (const text of [JSON.stringify(a.body), JSON.stringify(b.body), JSON.stringify(upstream.requests), server.log, JSON.stringify(reg.body)])
        for (const t of [ca.token, cb.token]) assert.ok(!text.includes(t), 'a token leaked');
      // Carol, another user, is still not connected.
      assert.match((await ask('carol', 'x')).body.output[0].error, /No usable 'crm' credential/);

      // A replayed callback (the state is single use) and a callback from another issuer are refused.
      const again = await connect(server, 'dan');
      assert.equal(again.status, 200);
      const replay = await fetch(`${server.base}/v1/vault/oauth/callback?state=${again.begin.state}&code=x`);
      assert.equal(replay.status, 400);
      const begin = await server.json('/v1/vault/oauth/crm/authorize', { method: 'POST', headers: { 'x-continuum-user': 'eve' } });
      const mixed = await fetch(`${server.base}/v1/vault/oauth/callback?state=${begin.body.state}&code=x&iss=${encodeURIComponent('https://evil.example/')}`);
      assert.equal(mixed.status, 400);
      assert.equal((await mixed.json()).error.param, 'iss');

      // After kill -9, the provider and the users' tokens are still there.
      await server.kill9();
      const again2 = new Server({ env: { ...env, CONTINUUM_UPSTREAM_URL: upstream.url }, dataDir: server.dataDir });
      await again2.start();
      try {
        const after = await again2.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': 'ada' },
          body: JSON.stringify({ model: 'm', input: 'MCP_CALL whoami {"note":"after-restart"}', tools: [{ type: 'mcp', server_label: 'crm' }] }) });
        assert.equal(after.body.output.find((o) => o.type === 'mcp_call')?.status, 'completed', JSON.stringify(after.body.output));
        assert.equal(mcp.seen.calls.at(-1).token, ca.token);
      } finally {
        await again2.stop();
      }
    });
  } finally {
    await mcp.close();
  }
});

test('mcp oauth: discovery by well-known URLs, configured callback, and clear refusals', async () => {
  const mcp = await startOAuthMcpServer({ challengeWithMetadataUrl: false });
  const plain = await startMcpServer();
  try {
    const env = { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1', CONTINUUM_OAUTH_REDIRECT_URI: 'https://continuum.example.com/v1/vault/oauth/callback' };
    await withServer({ env }, async ({ server }) => {
      const put = (body) => server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify(body) });
      // No resource_metadata in the challenge: found at /.well-known/oauth-protected-resource/mcp.
      // A pre-registered client id skips dynamic registration; the callback comes from the configuration.
      const reg = await put({ label: 'Docs', url: mcp.url, auth: { scheme: 'oauth', client_id: 'pre-registered', scopes: 'mcp:tools' } });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      assert.equal(reg.body.auth.provider, 'docs');
      assert.equal(reg.body.auth.oauth.client_id, 'pre-registered');
      assert.equal(mcp.seen.registrations.length, 0);
      const begin = await server.json('/v1/vault/oauth/docs/authorize', { method: 'POST', headers: { 'x-continuum-user': 'ada' } });
      assert.equal(begin.status, 200, JSON.stringify(begin.body));
      const u = new URL(begin.body.authorization_url);
      assert.equal(u.searchParams.get('redirect_uri'), env.CONTINUUM_OAUTH_REDIRECT_URI);
      assert.equal(u.searchParams.get('resource'), mcp.url);
      assert.equal(u.searchParams.get('client_id'), 'pre-registered');
      // A server that does not ask for authorization, bad fields, and another project's provider.
      const open = await put({ label: 'open', url: plain.url, auth: { scheme: 'oauth' } });
      assert.equal(open.status, 400);
      assert.match(open.body.error.message, /did not ask for authorization/);
      const stray = await put({ label: 'x', url: plain.url, auth: { provider: 'p', client_secret: 's' } });
      assert.equal(stray.status, 400);
      assert.equal(stray.body.error.param, 'auth.client_secret');
      const unknown = await put({ label: 'x', url: mcp.url, auth: { scheme: 'oauth', oauth: {} } });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.error.param, 'auth.oauth');
      const other = server.createKey('proj_other');
      const elsewhere = await server.json('/v1/vault/oauth/docs/authorize', { method: 'POST', key: other });
      assert.equal(elsewhere.status, 404, 'a provider belongs to the project that registered it');
      // The registration shows no secret, and the server keeps serving.
      assert.ok(!JSON.stringify((await server.json('/v1/tool_servers/Docs')).body).includes('client_secret'));
    });
  } finally {
    await mcp.close();
    await plain.close();
  }
});
