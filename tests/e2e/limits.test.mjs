// Configured limits: retention (expired state is really deleted) and the bound on concurrent
// runs (429 with Retry-After).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { withServer, sleep } from './harness.mjs';

function config(text) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-cfg-')), 'c.toml');
  fs.writeFileSync(file, text);
  return file;
}

test('retention deletes expired responses and conversations for good', async () => {
  await withServer({ args: ['--config', config('[storage]\nretention_seconds = 2\n')] }, async ({ client, server }) => {
    const r = await client.responses.create({ model: 'm', input: 'ephemeral '.repeat(2000) });
    const c = await client.conversations.create({ items: [{ role: 'user', content: 'short-lived' }] });
    assert.equal((await client.responses.retrieve(r.id)).status, 'completed');
    // Both were created within a second of each other; a sweep may take one before the other.
    let gone = false;
    for (let i = 0; i < 40 && !gone; i++) {
      await sleep(250);
      const a = await client.responses.retrieve(r.id).then(() => false, (e) => e.status === 404);
      const b = await client.conversations.retrieve(c.id).then(() => false, (e) => e.status === 404);
      gone = a && b;
    }
    assert.ok(gone, 'the response and the conversation should expire');
    await assert.rejects(client.responses.create({ model: 'm', input: 'x', previous_response_id: r.id }), (e) => e.status === 400);
    // Nothing of it remains in the database file.
    await server.stop();
    const dump = server.sql('SELECT count(*) FROM turns UNION ALL SELECT count(*) FROM conversations UNION ALL SELECT count(*) FROM conversation_entries');
    assert.deepEqual(dump, ['0', '0', '0']);
    await server.start();
  });
});

test('too many concurrent runs: 429 with Retry-After, and the server keeps serving', async () => {
  await withServer({ args: ['--config', config('[limits]\nmax_active_runs = 2\n')] }, async ({ client, server }) => {
    const slow = [client.responses.create({ model: 'm', input: 'SLOW 1' }), client.responses.create({ model: 'm', input: 'SLOW 2' })];
    await sleep(150);
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'third' }) });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(r.body.error.code, 'rate_limit_exceeded');
    await Promise.all(slow);
    assert.equal((await client.responses.create({ model: 'm', input: 'now fine' })).status, 'completed');
  });
});

test('Expect: 100-continue with a Content-Length over the limit gets 413 at once, without the body', async () => {
  const net = await import('node:net');
  await withServer({ upstream: false }, async ({ server }) => {
    const sock = net.connect(server.port, '127.0.0.1');
    const t0 = Date.now();
    const answer = await new Promise((resolve, reject) => {
      let data = '';
      sock.on('data', (d) => {
        data += d;
        if (data.includes('\r\n\r\n') && /content-length: (\d+)/i.test(data)) {
          const len = Number(data.match(/content-length: (\d+)/i)[1]);
          if (data.length - data.indexOf('\r\n\r\n') - 4 >= len) resolve(data);
        }
      });
      sock.on('error', reject);
      sock.on('close', () => resolve(data));
      sock.write('POST /v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\n' +
                 'Content-Length: 900000000\r\nExpect: 100-continue\r\n\r\n');
    });
    sock.destroy();
    assert.match(answer, /^HTTP\/1\.1 413/);
    assert.doesNotMatch(answer, /100 Continue/);
    assert.match(answer, /request_too_large/);
    assert.ok(Date.now() - t0 < 2000, `answered after ${Date.now() - t0} ms`);
  });
});
