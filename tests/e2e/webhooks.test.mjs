// Webhooks: a registered URL is told when responses end, signed as Standard Webhooks do, retried
// with backoff when it fails, written to an outbox with the response so kill -9 loses nothing,
// with a delivery log; secrets shown once; admin only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import crypto from 'node:crypto';
import { Server, sleep } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

async function receiver() {
  const got = [];
  let failNext = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      if (failNext > 0) { failNext--; res.writeHead(503); return res.end('busy'); }
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}/hook`, got, fail: (n) => { failNext = n; }, close: () => new Promise((r) => server.close(r)) };
}

// Standard Webhooks verification, as a receiver would do it.
function verify(secret, headers, body) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const mac = crypto.createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return headers['webhook-signature'].split(' ').includes(`v1,${mac}`);
}

async function until(pred, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await pred()) return; await sleep(50); }
  throw new Error('condition not met in time');
}

test('webhooks: signed events on response end, agent filters, retries, a delivery log, and kill -9', async () => {
  const rx = await receiver();
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream, env: { CONTINUUM_WEBHOOKS_ALLOW_PRIVATE_URLS: '1' } });
  await server.start();
  try {
    const post = (p, body, init = {}) => server.json(p, { method: 'POST', body: JSON.stringify(body), ...init });
    const made = await post('/v1/webhooks', { url: rx.url, description: 'all responses' });
    assert.equal(made.status, 200, JSON.stringify(made.body));
    const secret = made.body.secret;
    assert.match(secret, /^whsec_/);
    assert.ok(!JSON.stringify((await server.json(`/v1/webhooks/${made.body.id}`)).body).includes(secret), 'the secret is shown once');
    await post('/v1/agents', { name: 'billing', model: 'm' });
    const onlyBilling = await post('/v1/webhooks', { url: rx.url + '?agent=billing', agent: 'billing', events: ['response.completed'] });
    assert.equal(onlyBilling.status, 200);

    const r = await post('/v1/responses', { model: 'm', input: 'hello' });
    await until(() => rx.got.length >= 1);
    const first = rx.got[0];
    const event = JSON.parse(first.body);
    assert.equal(event.object, 'event');
    assert.equal(event.type, 'response.completed');
    assert.deepEqual(event.data, { id: r.body.id });
    assert.equal(first.headers['webhook-id'], event.id);
    assert.ok(verify(secret, first.headers, first.body), 'the signature verifies');
    assert.ok(Math.abs(Number(first.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
    // An agent's turn reaches both hooks; a failed one only the first (the billing hook wants completed only).
    const b = await post('/v1/responses', { model: 'agent:billing', input: 'x' });
    await until(() => rx.got.filter((g) => g.body.includes(b.body.id)).length === 2);
    const bad = await post('/v1/responses', { model: 'agent:billing', input: 'FAIL_ALWAYS' });
    assert.notEqual(bad.status, 200);
    await until(() => rx.got.some((g) => g.body.includes('response.failed')));
    await sleep(300);
    assert.equal(rx.got.filter((g) => g.body.includes('response.failed')).length, 1);

    // A failing receiver: retried with backoff, the log shows the attempts.
    rx.fail(2);
    const before = rx.got.length;
    const c = await post('/v1/responses', { model: 'm', input: 'retry me', metadata: {} });
    await until(() => rx.got.slice(before).filter((g) => g.body.includes(c.body.id)).length === 3, 20000);
    // The receiver has the third attempt; the server records it once the answer is back.
    let entry;
    for (let i = 0; i < 100; i++) {
      const log = await server.json(`/v1/webhooks/${made.body.id}/deliveries`);
      entry = log.body.data.find((d) => d.response_id === c.body.id);
      if (entry?.status === 'delivered') break;
      await sleep(20);
    }
    assert.equal(entry.status, 'delivered');
    assert.equal(entry.attempts, 3);
    assert.equal(entry.last_status_code, 204);

    // kill -9 right after an acknowledged response whose event the receiver refuses: it is
    // delivered after the restart.
    rx.fail(1000);
    const d = await post('/v1/responses', { model: 'm', input: 'survive' });
    await server.kill9();
    rx.fail(0);
    await server.start();
    await until(() => rx.got.some((g) => g.body.includes(d.body.id) && g.headers['webhook-id']) &&
      rx.got.filter((g) => g.body.includes(d.body.id)).length >= 1, 20000);
    await until(async () => (await server.json(`/v1/webhooks/${made.body.id}/deliveries`)).body.data.find((x) => x.response_id === d.body.id)?.status === 'delivered', 20000);

    // Errors, admin only, deletion.
    for (const [body, param] of [[{}, 'url'], [{ url: 'ftp://x' }, 'url'], [{ url: rx.url, events: ['nope'] }, 'events'], [{ url: rx.url, colour: 1 }, 'colour']]) {
      const e = await post('/v1/webhooks', body);
      assert.equal(e.status, 400, JSON.stringify(body));
      assert.equal(e.body.error.param, param);
    }
    const worker = (await post('/v1/admin/keys', { name: 'w', scopes: ['responses'] })).body.value;
    assert.equal((await server.json('/v1/webhooks', { key: worker })).status, 403);
    assert.equal((await server.json(`/v1/webhooks/${made.body.id}`, { method: 'DELETE' })).status, 200);
    assert.equal((await server.json(`/v1/webhooks/${made.body.id}`)).status, 404);
    assert.ok(!server.log.includes(secret), 'the secret is never logged');
  } finally {
    await server.stop();
    await upstream.close();
    await rx.close();
    server.cleanup();
  }
});

test('webhooks: private URLs are refused unless allowed', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const r = await server.json('/v1/webhooks', { method: 'POST', body: JSON.stringify({ url: 'http://127.0.0.1:9/hook' }) });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /private/);
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});
