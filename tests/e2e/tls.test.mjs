// An https upstream: TLS with certificate verification, trusting an extra CA file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Server } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

function selfSigned() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { dir, key: fs.readFileSync(path.join(dir, 'key.pem')), cert: fs.readFileSync(path.join(dir, 'cert.pem')), certFile: path.join(dir, 'cert.pem') };
}

test('https upstream: verified with the configured CA, refused without it', async () => {
  const tls = selfSigned();
  const upstream = await startFakeUpstream({ tls });
  const trusted = new Server({ upstream, env: { CONTINUUM_UPSTREAM_CA_FILE: tls.certFile } });
  const untrusted = new Server({ upstream });
  await trusted.start();
  await untrusted.start();
  try {
    const r = await trusted.client().responses.create({ model: 'm', input: 'over tls' });
    assert.equal(r.output_text, 'echo: over tls');
    assert.equal(upstream.last().body.messages[0].content, 'over tls');
    await assert.rejects(untrusted.client().responses.create({ model: 'm', input: 'x' }), (e) => e.status === 502 && /TLS|certificate|handshake/i.test(e.message));
  } finally {
    await trusted.stop();
    await untrusted.stop();
    await upstream.close();
    trusted.cleanup();
    untrusted.cleanup();
    fs.rmSync(tls.dir, { recursive: true, force: true });
  }
});
