// OAuth 2.0 against a fake authorization server (a real HTTP process-local server): the
// authorization-code flow with PKCE and state, refresh-token and client-credentials grants. The
// server records what it receives; tokens never appear in any answer or log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import crypto from 'node:crypto';
import { withServer, KEY } from './harness.mjs';

function startAuthServer() {
  const seen = [];
  const codes = new Map();  // code -> code_challenge
  let n = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      seen.push({ path: req.url, form });
      const reply = (status, o) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(o)); };
      if (req.url !== '/token') return reply(404, {});
      if (form.client_id !== 'cid' || form.client_secret !== 'csecret') return reply(401, { error: 'invalid_client' });
      n++;
      if (form.grant_type === 'authorization_code') {
        const challenge = codes.get(form.code);
        codes.delete(form.code);
        const actual = crypto.createHash('sha256').update(form.code_verifier || '').digest('base64url');
        if (!challenge || challenge !== actual) return reply(400, { error: 'invalid_grant', error_description: `bad verifier for ${form.code}` });
        return reply(200, { access_token: `AT-code-${n}`, refresh_token: `RT-${n}`, expires_in: 3600, token_type: 'Bearer', scope: 'repo' });
      }
      if (form.grant_type === 'refresh_token') {
        if (!/^RT-\d+$/.test(form.refresh_token)) return reply(400, { error: 'invalid_grant' });
        return reply(200, { access_token: `AT-refresh-${n}`, refresh_token: `RT-${n}`, expires_in: 30, token_type: 'Bearer' });
      }
      if (form.grant_type === 'client_credentials') return reply(200, { access_token: `AT-cc-${n}`, expires_in: 3600, token_type: 'Bearer' });
      return reply(400, { error: 'unsupported_grant_type' });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    url: `http://127.0.0.1:${server.address().port}`, seen, codes, close: () => new Promise((r) => server.close(r)),
  })));
}

test('an end user connects an account with PKCE; tokens are refreshed and never shown', async () => {
  const auth = await startAuthServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-oauth-'));
  const cfg = path.join(dir, 'c.toml');
  fs.writeFileSync(cfg, `
[oauth.providers.github]
authorize_url = "${auth.url}/authorize"
token_url = "${auth.url}/token"
client_id = "cid"
client_secret_env = "TEST_GITHUB_SECRET"
scopes = "repo read:user"
redirect_uri = "https://continuum.example/v1/vault/oauth/callback"

[oauth.providers.billing]
token_url = "${auth.url}/token"
client_id = "cid"
client_secret = "csecret"
grant = "client_credentials"
`);
  await withServer({ args: ['--config', cfg], env: { TEST_GITHUB_SECRET: 'csecret' } }, async ({ server }) => {
    const answers = [];
    const call = async (method, p, body, headers = {}, key = KEY) => {
      const r = await server.json(p, { method, key, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      answers.push(r);
      return r;
    };
    // Start: the URL to send alice to carries PKCE (S256) and a state.
    const begin = await call('POST', '/v1/vault/oauth/github/authorize', {}, { 'x-continuum-user': 'alice' });
    assert.equal(begin.status, 200, JSON.stringify(begin.body));
    const u = new URL(begin.body.authorization_url);
    assert.equal(u.origin + u.pathname, `${auth.url}/authorize`);
    assert.equal(u.searchParams.get('response_type'), 'code');
    assert.equal(u.searchParams.get('client_id'), 'cid');
    assert.equal(u.searchParams.get('redirect_uri'), 'https://continuum.example/v1/vault/oauth/callback');
    assert.equal(u.searchParams.get('scope'), 'repo read:user');
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(u.searchParams.get('state'), begin.body.state);
    // The provider issues a code for that challenge and redirects the browser back (no bearer).
    auth.codes.set('code-1', u.searchParams.get('code_challenge'));
    const cb = await fetch(`${server.base}/v1/vault/oauth/callback?code=code-1&state=${begin.body.state}`);
    const cbBody = await cb.json();
    answers.push({ body: cbBody });
    assert.equal(cb.status, 200, JSON.stringify(cbBody));
    assert.equal(cbBody.connected, true);
    assert.deepEqual(cbBody.owner, { type: 'user', id: 'alice' });
    const exchange = auth.seen.find((s) => s.form.grant_type === 'authorization_code');
    assert.equal(exchange.form.redirect_uri, 'https://continuum.example/v1/vault/oauth/callback');
    assert.ok(exchange.form.code_verifier.length >= 43);
    // The state is single-use; a forged one is refused.
    const replay = await fetch(`${server.base}/v1/vault/oauth/callback?code=code-1&state=${begin.body.state}`);
    assert.equal(replay.status, 400);
    assert.equal((await replay.json()).error.code, 'invalid_state');
    assert.equal((await fetch(`${server.base}/v1/vault/oauth/callback?code=x&state=forged`)).status, 400);
    const denied = await fetch(`${server.base}/v1/vault/oauth/callback?error=access_denied&state=x`);
    assert.equal(denied.status, 400);

    // Stored for alice only, as metadata.
    const mine = await call('GET', '/v1/vault/secrets', undefined, { 'x-continuum-user': 'alice' });
    assert.equal(mine.body.data.length, 1);
    assert.equal(mine.body.data[0].kind, 'oauth2');
    assert.ok(mine.body.data[0].expires_at > Date.now() / 1000 + 3000);
    assert.deepEqual((await call('GET', '/v1/vault/secrets', undefined, { 'x-continuum-user': 'bob' })).body.data, []);

    // Refresh: the refresh token it was given goes back to the provider; the expiry moves.
    const ref = await call('POST', '/v1/vault/oauth/github/refresh', {}, { 'x-continuum-user': 'alice' });
    assert.equal(ref.status, 200, JSON.stringify(ref.body));
    const grant = auth.seen.filter((s) => s.form.grant_type === 'refresh_token').at(-1);
    assert.match(grant.form.refresh_token, /^RT-\d+$/);
    assert.ok(ref.body.expires_at <= Date.now() / 1000 + 31);
    // Bob never connected: nothing to refresh.
    const none = await call('POST', '/v1/vault/oauth/github/refresh', {}, { 'x-continuum-user': 'bob' });
    assert.equal(none.status, 400);
    assert.equal(none.body.error.code, 'oauth_not_connected');

    // Client credentials for the project.
    const cc = await call('POST', '/v1/vault/oauth/billing/refresh', {});
    assert.equal(cc.status, 200, JSON.stringify(cc.body));
    assert.deepEqual(cc.body.owner, { type: 'project', id: null });
    assert.ok(auth.seen.some((s) => s.form.grant_type === 'client_credentials'));
    // Unknown provider; a user cannot be connected to a client-credentials provider.
    assert.equal((await call('POST', '/v1/vault/oauth/nope/authorize', {}, { 'x-continuum-user': 'alice' })).status, 404);
    assert.equal((await call('POST', '/v1/vault/oauth/billing/authorize', {}, { 'x-continuum-user': 'alice' })).status, 400);
    assert.equal((await call('POST', '/v1/vault/oauth/github/authorize', {})).status, 400, 'needs an end user');

    // No token, refresh token or client secret in any answer, the audit log or the server log.
    answers.push(await call('GET', '/v1/admin/audit?limit=1000'));
    const text = JSON.stringify(answers.map((a) => a.body));
    for (const secret of ['AT-', 'RT-', 'csecret']) assert.ok(!text.includes(secret), `${secret} not in answers`);
    await server.stop();
    for (const secret of ['AT-', 'RT-', 'csecret', exchange.form.code_verifier]) assert.ok(!server.log.includes(secret), `${secret} not logged`);
  });
  await auth.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
