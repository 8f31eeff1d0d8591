// End users' OIDC tokens as bearer credentials: verification (RS256, ES256, EdDSA; issuer,
// audience, exp/nbf, unknown kid then a rotated JWKS, the classic forgeries), and isolation: a
// token acts as its user only, on every route, and never sees another user's objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { withServer, sleep, KEY } from './harness.mjs';
import { keyPair, jwks, sign, forgeNone, forgeHs256, now } from './jwt.mjs';

const ISS = 'https://idp.example.test/';
const AUD = 'continuum-tests';

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-oidc-'));
  const rs = keyPair('RS256', 'rs-1'), es = keyPair('ES256', 'es-1'), ed = keyPair('EdDSA', 'ed-1');
  const file = path.join(dir, 'jwks.json');
  fs.writeFileSync(file, jwks(rs, es, ed));
  const env = {
    CONTINUUM_OIDC_ISSUER: ISS, CONTINUUM_OIDC_AUDIENCE: AUD, CONTINUUM_OIDC_JWKS: file,
    CONTINUUM_OIDC_JWKS_MIN_REFRESH_MS: '200',
  };
  return { dir, file, rs, es, ed, env };
}

const claims = (sub, extra = {}) => ({ iss: ISS, aud: AUD, sub, exp: now() + 300, iat: now(), ...extra });

async function asToken(server, token, p, init = {}) {
  return server.json(p, { ...init, key: token });
}

test('tokens are verified: algorithms, claims, rotation, forgeries; failures say why without echoing', async () => {
  const o = setup();
  await withServer({ env: o.env }, async ({ server }) => {
    for (const pair of [o.rs, o.es, o.ed]) {
      const r = await asToken(server, sign(pair, claims('alice')), '/v1/memories');
      assert.equal(r.status, 200, `${pair.alg}: ${JSON.stringify(r.body)}`);
    }
    const cases = [
      ['expired', sign(o.rs, claims('alice', { exp: now() - 3600 })), /expired/],
      ['not yet valid', sign(o.rs, claims('alice', { nbf: now() + 3600 })), /not valid yet/],
      ['no exp', sign(o.rs, { iss: ISS, aud: AUD, sub: 'alice' }), /no 'exp'/],
      ['wrong audience', sign(o.rs, claims('alice', { aud: 'someone-else' })), /audience/],
      ['wrong issuer', sign(o.rs, claims('alice', { iss: 'https://evil.example/' })), /issuer/],
      ['bad signature', sign(o.rs, claims('alice')).replace(/\.[^.]+$/, '.' + Buffer.alloc(256, 7).toString('base64url')), /signature/],
      ['payload swapped', (() => { const [h, , s] = sign(o.es, claims('alice')).split('.'); return [h, Buffer.from(JSON.stringify(claims('bob'))).toString('base64url'), s].join('.'); })(), /signature/],
      ['alg none', forgeNone(claims('alice')), /not accepted/],
      ['HS256 keyed with the public key', forgeHs256(o.rs, claims('alice')), /not accepted/],
      ['key of another type', sign(o.es, claims('alice'), { kid: 'rs-1' }), /unknown key|signature/],
      ['no user claim', sign(o.rs, { iss: ISS, aud: AUD, exp: now() + 60 }), /'sub' claim/],
      ['garbage', 'abc.def.ghi', /Invalid token/],
    ];
    for (const [name, token, why] of cases) {
      const r = await asToken(server, token, '/v1/memories');
      assert.equal(r.status, 401, name);
      assert.match(r.body.error.message, why, name);
      assert.ok(!r.body.error.message.includes(token), `${name}: the token is not echoed`);
    }
    // An unknown kid is refused; once the provider rotates its keys, the new kid is accepted.
    const next = keyPair('EdDSA', 'ed-2');
    const rotated = sign(next, claims('alice'));
    const before = await asToken(server, rotated, '/v1/memories');
    assert.equal(before.status, 401);
    assert.match(before.body.error.message, /unknown key/);
    fs.writeFileSync(o.file, jwks(o.rs, next));
    await sleep(300);
    assert.equal((await asToken(server, rotated, '/v1/memories')).status, 200);
    // A token never reaches the logs.
    assert.ok(!server.log.includes(rotated.split('.')[2]));
  });
  fs.rmSync(o.dir, { recursive: true, force: true });
});

test('a token acts as its user only: own objects, no naming others, no admin', async () => {
  const o = setup();
  await withServer({ env: o.env }, async ({ server, upstream }) => {
    const alice = sign(o.rs, claims('alice')), bob = sign(o.ed, claims('bob'));
    const sdkAlice = new OpenAI({ apiKey: alice, baseURL: `${server.base}/v1`, maxRetries: 0 });
    const sdkBob = new OpenAI({ apiKey: bob, baseURL: `${server.base}/v1`, maxRetries: 0 });

    const conv = await sdkAlice.conversations.create({ items: [{ role: 'user', content: 'alice secret: the vault code is 4711' }] });
    const r1 = await sdkAlice.responses.create({ model: 'm', input: 'remember my code', conversation: conv.id });
    const r2 = await sdkAlice.responses.create({ model: 'm', input: 'chain', previous_response_id: r1.id, background: true });
    await sleep(200);
    const mem = await asToken(server, alice, '/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Alice owns a red bike.' }) });
    assert.equal(mem.status, 200);
    assert.equal(mem.body.namespace.user_id, 'alice');

    // Bob sees none of it, by any route: 404, never 403.
    const sent = upstream.requests.length;
    const probes = [
      ['GET', `/v1/responses/${r1.id}`], ['GET', `/v1/responses/${r1.id}?stream=true`], ['GET', `/v1/responses/${r1.id}/input_items`],
      ['POST', `/v1/responses/${r2.id}/cancel`], ['DELETE', `/v1/responses/${r1.id}`],
      ['GET', `/v1/conversations/${conv.id}`], ['POST', `/v1/conversations/${conv.id}`, { metadata: { x: 'y' } }],
      ['GET', `/v1/conversations/${conv.id}/items`], ['POST', `/v1/conversations/${conv.id}/items`, { items: [{ role: 'user', content: 'bob was here' }] }],
      ['DELETE', `/v1/conversations/${conv.id}`],
      ['GET', `/v1/memories/${mem.body.id}`], ['PATCH', `/v1/memories/${mem.body.id}`, { text: 'bob edits' }], ['DELETE', `/v1/memories/${mem.body.id}`],
      ['GET', `/v1/memories/${mem.body.id}/history`],
    ];
    for (const [method, p, body] of probes) {
      const r = await asToken(server, bob, p, { method, body: body ? JSON.stringify(body) : undefined });
      assert.equal(r.status, 404, `${method} ${p}: ${JSON.stringify(r.body)}`);
    }
    await assert.rejects(sdkBob.responses.create({ model: 'm', input: 'x', previous_response_id: r1.id }), (e) => e.status === 400 && e.code === 'previous_response_not_found');
    await assert.rejects(sdkBob.responses.create({ model: 'm', input: 'x', conversation: conv.id }), (e) => e.status === 404);
    assert.equal(upstream.requests.length, sent, 'nothing of bob reached the model');
    const bobList = await asToken(server, bob, '/v1/memories');
    assert.deepEqual(bobList.body.data, []);
    const bobSearch = await asToken(server, bob, '/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'bike' }) });
    assert.deepEqual(bobSearch.body.data, []);

    // Naming another user is refused, through every door.
    for (const [way, init, p] of [
      ['header', { headers: { 'x-continuum-user': 'alice' } }, '/v1/memories'],
      ['query', {}, '/v1/memories?user_id=alice'],
      ['safety_identifier', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x', safety_identifier: 'alice' }) }, '/v1/responses'],
      ['user', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x', user: 'alice' }) }, '/v1/responses'],
      ['erase', { method: 'DELETE' }, '/v1/users/alice/memories'],
    ]) {
      const r = await asToken(server, bob, p, init);
      assert.equal(r.status, 403, way);
      assert.equal(r.body.error.code, 'user_mismatch', way);
    }
    // Naming oneself is fine; admin routes are closed to end users.
    assert.equal((await asToken(server, bob, '/v1/memories', { headers: { 'x-continuum-user': 'bob' } })).status, 200);
    assert.equal((await asToken(server, bob, '/v1/admin/keys')).status, 403);

    // Alice still has everything; the project's key sees all of it.
    assert.equal((await sdkAlice.conversations.items.list(conv.id)).data.length >= 3, true);
    assert.equal((await sdkAlice.responses.retrieve(r1.id)).id, r1.id);
    assert.equal((await server.json(`/v1/responses/${r1.id}`)).status, 200);
    // A project-level conversation is not an end user's.
    const projConv = await server.json('/v1/conversations', { method: 'POST', body: '{}' });
    assert.equal((await asToken(server, alice, `/v1/conversations/${projConv.body.id}`)).status, 404);
  });
  fs.rmSync(o.dir, { recursive: true, force: true });
});

test('the project comes from a claim when configured; misconfiguration stops start-up', async () => {
  const o = setup();
  await withServer({ env: { ...o.env, CONTINUUM_OIDC_PROJECT_CLAIM: 'org' } }, async ({ server }) => {
    // A project that does not exist is refused.
    const ghost = await asToken(server, sign(o.rs, claims('carol', { org: 'proj_acme' })), '/v1/memories');
    assert.equal(ghost.status, 401);
    assert.match(ghost.body.error.message, /project that does not exist/);
    await server.json('/v1/admin/projects', { method: 'POST', body: JSON.stringify({ name: 'Acme', id: 'proj_acme' }) });
    const t = sign(o.rs, claims('carol', { org: 'proj_acme', jti: 'fresh' }));
    const r = await asToken(server, t, '/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'hi' }) });
    assert.equal(r.status, 200);
    // Invisible from the default project, visible to the token.
    assert.equal((await server.json(`/v1/responses/${r.body.id}`)).status, 404);
    assert.equal((await asToken(server, t, `/v1/responses/${r.body.id}`)).status, 200);
    const noOrg = await asToken(server, sign(o.rs, claims('carol')), '/v1/memories');
    assert.equal(noOrg.status, 401);
    assert.match(noOrg.body.error.message, /'org' claim/);
  });
  const { Server } = await import('./harness.mjs');
  const s = new Server({ env: { CONTINUUM_OIDC_ISSUER: ISS, CONTINUUM_OIDC_JWKS: o.file } });
  await assert.rejects(s.start(), /audience/);
  assert.ok(await s.waitExit(10000), 'a server that refuses to start exits');
  s.cleanup();
  fs.rmSync(o.dir, { recursive: true, force: true });
});
