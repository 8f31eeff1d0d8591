// HTTPS: the server speaks TLS when a certificate and key are configured, and SIGHUP loads a
// renewed certificate without a restart (a broken one is refused and the current one kept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { Server, KEY, sleep } from './harness.mjs';

function makeCert(dir, name) {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=localhost`,
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', path.join(dir, `${name}.key`), '-out', path.join(dir, `${name}.crt`)], { stdio: 'ignore' });
  return { cert: fs.readFileSync(path.join(dir, `${name}.crt`)), key: fs.readFileSync(path.join(dir, `${name}.key`)) };
}

// One request on a fresh connection; resolves with status, body and the server's certificate.
function request(port, ca, p, { method = 'GET', body, key = KEY } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: p, method, ca, servername: 'localhost', agent: false,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } }, (res) => {
      let data = '';
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, body: data, fingerprint: res.socket.getPeerCertificate().fingerprint256 }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

test('https with a configured certificate; SIGHUP reloads it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-https-'));
  const a = makeCert(dir, 'a'), b = makeCert(dir, 'b');
  fs.copyFileSync(path.join(dir, 'a.crt'), path.join(dir, 'live.crt'));
  fs.copyFileSync(path.join(dir, 'a.key'), path.join(dir, 'live.key'));
  const server = new Server({ env: { CONTINUUM_TLS_CERT_FILE: path.join(dir, 'live.crt'), CONTINUUM_TLS_KEY_FILE: path.join(dir, 'live.key') } });
  server.base = 'unused';
  const origStart = server.start.bind(server);
  // The harness polls over plain http; poll over https instead.
  server.start = async () => {
    const p = origStart().catch(() => {});
    for (let i = 0; i < 200; i++) {
      await sleep(25);
      if (server.port) {
        try { if ((await request(server.port, a.cert, '/healthz')).status === 200) return; } catch {}
      }
    }
    await p;
    throw new Error('https server did not start:\n' + server.log);
  };
  await server.start();
  try {
    const fpA = (await request(server.port, a.cert, '/healthz')).fingerprint;
    const r = await request(server.port, a.cert, '/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'over https' }) });
    assert.equal(r.status, 200, r.body);
    assert.equal(JSON.parse(r.body).status, 'completed');
    await server.waitLog(/listening on https:/);
    assert.match(server.log, /listening on https:/);
    // Plain http to the TLS port gets no answer.
    await assert.rejects(fetch(`http://127.0.0.1:${server.port}/healthz`));

    // Renewed certificate in place, then SIGHUP: new connections get it.
    fs.copyFileSync(path.join(dir, 'b.crt'), path.join(dir, 'live.crt'));
    fs.copyFileSync(path.join(dir, 'b.key'), path.join(dir, 'live.key'));
    server.proc.kill('SIGHUP');
    let fpB;
    for (let i = 0; i < 100; i++) {
      await sleep(20);
      try { fpB = (await request(server.port, b.cert, '/healthz')).fingerprint; break; } catch {}
    }
    assert.ok(fpB && fpB !== fpA, 'the new certificate is served');
    await server.waitLog(/TLS certificate reloaded/);
    assert.match(server.log, /TLS certificate reloaded/);
    // A broken file is refused; the server keeps serving the current certificate.
    fs.writeFileSync(path.join(dir, 'live.crt'), 'not a certificate');
    server.proc.kill('SIGHUP');
    for (let i = 0; i < 100 && !/TLS reload failed/.test(server.log); i++) await sleep(20);
    assert.match(server.log, /TLS reload failed/);
    assert.equal((await request(server.port, b.cert, '/healthz')).fingerprint, fpB);
  } finally {
    await server.stop();
    server.cleanup();
  }
  // A certificate without a key stops start-up.
  const half = new Server({ env: { CONTINUUM_TLS_CERT_FILE: path.join(dir, 'a.crt') } });
  await assert.rejects(half.start(), /both a certificate and a key/);
  half.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});
