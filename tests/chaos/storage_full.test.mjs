// A full disk, without root: the database is capped (storage.max_db_bytes, SQLite's
// max_page_count), which fails writes exactly as a full disk does. Every path reports one
// error (503 storage_full with Retry-After), reads go on, a restart comes up read-only, and
// the server returns to read-write by itself once space is freed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../e2e/harness.mjs';
import { randomText, report, startWithConfig } from './lib.mjs';

function assertStorageFull(r, what) {
  assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error.code, 'storage_full', what);
  assert.equal(r.body.error.type, 'server_error', what);
  assert.match(r.body.error.message, /storage is full/, what);
  assert.ok(Number(r.headers.get('retry-after')) > 0, `${what}: Retry-After`);
}

test('a full store: storage_full on every write path, reads served, read-only restart, back by itself', async () => {
  const { up, server } = await startWithConfig('[storage]\nmax_db_bytes = 4194304\n');
  try {
    const turn = (extra = {}) =>
      server.json('/v1/responses', {
        method: 'POST',
        body: JSON.stringify({ model: 'gpt-4o-mini', input: randomText(120_000), ...extra }),
      });
    // Fill the store until a turn is refused.
    const stored = [];
    let full;
    for (let i = 0; i < 200 && !full; i++) {
      const r = await turn();
      if (r.status === 200) stored.push(r.body.id);
      else full = r;
    }
    assert.ok(full, 'the store never filled');
    assert.ok(stored.length >= 3, `only ${stored.length} turns fit`);
    assertStorageFull(full, 'the turn that met the full store');
    assert.doesNotMatch(full.body.error.message, /upstream|model/i);

    // Every write path says the same, and turns are refused before the model is called.
    const calls = up.requests.length;
    assertStorageFull(await turn(), 'a plain turn');
    assertStorageFull(await turn({ stream: true }), 'a streaming turn');
    assertStorageFull(await turn({ background: true }), 'a background turn');
    assert.equal(up.requests.length, calls, 'the model was called for a turn that could not be stored');
    assertStorageFull(
      await server.json('/v1/conversations', {
        method: 'POST',
        body: JSON.stringify({ items: [{ type: 'message', role: 'user', content: randomText(200_000) }] }),
      }),
      'a conversation',
    );

    // Reads are served; liveness holds, readiness does not.
    const read = await server.json(`/v1/responses/${stored[0]}`);
    assert.equal(read.status, 200);
    assert.equal((await fetch(`${server.base}/healthz`)).status, 200);
    const ready = await fetch(`${server.base}/readyz`);
    assert.equal(ready.status, 503);
    assert.match((await ready.json()).reason, /storage full/);

    // A crash while full: the server comes back read-only.
    await server.kill9();
    await server.start();
    assertStorageFull(await turn(), 'a turn after a restart while full');
    assert.equal((await server.json(`/v1/responses/${stored[1]}`)).status, 200);
    assert.equal((await fetch(`${server.base}/readyz`)).status, 503);

    // Space is freed (responses deleted): the server finds out by itself.
    for (const id of stored.slice(0, 4)) {
      const d = await server.json(`/v1/responses/${id}`, { method: 'DELETE' });
      assert.equal(d.status, 200, JSON.stringify(d.body));
    }
    const freed = Date.now();
    let back = null;
    while (Date.now() - freed < 10_000) {
      if ((await fetch(`${server.base}/readyz`)).status === 200) {
        back = Date.now() - freed;
        break;
      }
      await sleep(50);
    }
    assert.ok(back !== null, 'still read-only 10 s after space was freed:\n' + server.log.slice(-2000));
    const after = await server.json('/v1/responses', {
      method: 'POST',
      body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hello again' }),
    });
    assert.equal(after.status, 200, JSON.stringify(after.body));
    // The "storage is full" line is logged when it happens, not once per refused request.
    assert.ok((server.log.match(/storage is full/g) || []).length <= 4, 'log flooded:\n' + server.log.split('\n').filter((l) => /storage is full/.test(l)).join('\n'));
    report('storage full', [
      `${stored.length} turns of ~120 KB filled a 4 MiB store`,
      `back to read-write ${back} ms after space was freed (probe interval 1 s)`,
    ]);
  } finally {
    await server.stop();
    await up.close();
    server.cleanup();
  }
});

// A real full disk: a small tmpfs (needs root to mount; skipped otherwise). Space is freed the
// way an operator would, by removing another file from the same disk.
test('a real full disk (tmpfs): storage_full, read-only restart, back once a file is removed', async (t) => {
  const { execFileSync } = await import('node:child_process');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-fulldisk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { stdio: 'ignore' });
  } catch {
    fs.rmSync(mnt, { recursive: true, force: true });
    t.skip('cannot mount a tmpfs here (not root)');
    return;
  }
  const { Server } = await import('../e2e/harness.mjs');
  const { startFakeUpstream } = await import('../e2e/fake-upstream.mjs');
  const up = await startFakeUpstream();
  const dataDir = path.join(mnt, 'data');
  fs.mkdirSync(dataDir);
  fs.writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(2 << 20));
  const server = new Server({ upstream: up, dataDir });
  try {
    await server.start();
    const ids = [];
    let full;
    for (let i = 0; i < 200 && !full; i++) {
      const r = await server.json('/v1/responses', {
        method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', input: randomText(100_000) }),
      });
      if (r.status === 200) ids.push(r.body.id);
      else full = r;
    }
    assert.ok(full && ids.length > 0, 'the disk never filled');
    assertStorageFull(full, 'a turn on a full disk');
    await server.kill9();
    await server.start();
    assert.equal((await server.json(`/v1/responses/${ids[0]}`)).status, 200);
    assert.equal((await fetch(`${server.base}/readyz`)).status, 503);
    fs.rmSync(path.join(mnt, 'filler'));
    const freed = Date.now();
    while ((await fetch(`${server.base}/readyz`)).status !== 200) {
      assert.ok(Date.now() - freed < 10_000, 'still read-only 10 s after space was freed:\n' + server.log.slice(-2000));
      await sleep(50);
    }
    const back = Date.now() - freed;
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', input: 'hello' }) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    report('full disk (8 MiB tmpfs)', [`${ids.length} turns of ~100 KB fit; read-write again ${back} ms after 2 MiB were freed`]);
  } finally {
    await server.stop();
    await up.close();
    execFileSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  }
});
