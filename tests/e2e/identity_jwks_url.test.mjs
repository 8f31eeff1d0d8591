// OIDC with the JWKS at an https URL: fetched over TLS (trusting a configured CA), cached, and
// fetched again when a token names a key it has not seen (the provider rotated its keys).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { withServer, sleep } from './harness.mjs';
import { keyPair, jwks, sign, now } from './jwt.mjs';

test('the JWKS comes from an https URL and is refetched for an unknown kid', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-jwks-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, 'k.pem'), '-out', path.join(dir, 'c.pem')], { stdio: 'ignore' });
  const first = keyPair('ES256', 'k1'), second = keyPair('RS256', 'k2');
  let published = jwks(first), fetches = 0;
  const idp = https.createServer({ key: fs.readFileSync(path.join(dir, 'k.pem')), cert: fs.readFileSync(path.join(dir, 'c.pem')) }, (req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(published);
  });
  await new Promise((r) => idp.listen(0, '127.0.0.1', r));
  const env = {
    CONTINUUM_OIDC_ISSUER: 'https://idp/', CONTINUUM_OIDC_AUDIENCE: 'app',
    CONTINUUM_OIDC_JWKS: `https://localhost:${idp.address().port}/jwks.json`,
    CONTINUUM_OIDC_CA_FILE: path.join(dir, 'c.pem'), CONTINUUM_OIDC_JWKS_MIN_REFRESH_MS: '100',
  };
  const claims = { iss: 'https://idp/', aud: 'app', sub: 'zoe', exp: now() + 300 };
  try {
    await withServer({ env }, async ({ server }) => {
      const r = await server.json('/v1/memories', { key: sign(first, claims) });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(fetches, 1);
      // Cached: another token with a known kid costs no fetch.
      assert.equal((await server.json('/v1/memories', { key: sign(first, { ...claims, jti: '2' }) })).status, 200);
      assert.equal(fetches, 1);
      // Rotation: a new kid makes the server fetch again.
      published = jwks(first, second);
      await sleep(150);
      assert.equal((await server.json('/v1/memories', { key: sign(second, claims) })).status, 200);
      assert.equal(fetches, 2);
    });
    // Without the CA the JWKS cannot be fetched, and tokens are refused (401), not accepted.
    await withServer({ env: { ...env, CONTINUUM_OIDC_CA_FILE: '' } }, async ({ server }) => {
      const r = await server.json('/v1/memories', { key: sign(first, claims) });
      assert.equal(r.status, 401);
    });
  } finally {
    idp.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
