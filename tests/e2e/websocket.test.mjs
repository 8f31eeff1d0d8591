// WebSocket mode on /v1/responses through the official SDK's ResponsesWS (openai 7.x) and a raw
// `ws` client: turns and chains on one socket, lanes that do not wait for each other, bad events
// answered with an error event on a socket that stays usable, authentication as for HTTP, a
// client that does not read is cut while what ran stays stored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ResponsesWS } from 'openai/resources/responses/ws';
import { collector, rawSocket } from './sockets.mjs';
import fs from 'node:fs';
import path from 'node:path';
import { Server, withServer, KEY, sleep } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

test('ResponsesWS: turns and a chain on one socket, events as over SSE', async () => {
  await withServer({}, async ({ server, client, upstream }) => {
    const rws = new ResponsesWS(client);
    const c = collector((f) => rws.on('event', f));
    rws.send({ type: 'response.create', model: 'gpt-4o', input: 'first on the socket' });
    await c.until((e) => e.type === 'response.completed');
    const first = c.events.find((e) => e.type === 'response.completed').response;
    assert.equal(first.output[0].content[0].text, 'echo: first on the socket');
    // Sequence numbers as over SSE: 0, 1, 2, ...
    const seqs = c.events.map((e) => e.sequence_number);
    assert.deepEqual(seqs, seqs.map((_, i) => i));
    rws.send({ type: 'response.create', model: 'gpt-4o', input: 'second', previous_response_id: first.id });
    await c.until((e) => e.type === 'response.completed' && e.response.id !== first.id);
    assert.deepEqual(upstream.last().body.messages.map((m) => m.content), ['first on the socket', 'echo: first on the socket', 'second']);
    // What ran is stored: readable over HTTP.
    const stored = await client.responses.retrieve(first.id);
    assert.equal(stored.status, 'completed');
    rws.close({ code: 1000, reason: 'done' });
  });
});

test('lanes: a slow lane does not hold a fast one; every event carries its stream_id', async () => {
  await withServer({}, async ({ server }) => {
    const s = await rawSocket(server);
    s.ws.send(JSON.stringify({ type: 'response.create', stream_id: 'slow', model: 'gpt-4o', input: 'SLOW please' }));
    s.ws.send(JSON.stringify({ type: 'response.create', stream_id: 'fast', model: 'gpt-4o', input: 'quick' }));
    await s.until((e) => e.type === 'response.completed' && e.stream_id === 'fast');
    // The fast lane finished while the slow one (20 deltas, 100 ms apart) was still going.
    assert.ok(!s.events.some((e) => e.type === 'response.completed' && e.stream_id === 'slow'));
    assert.ok(s.events.some((e) => e.stream_id === 'slow' && e.type === 'response.created'));
    await s.until((e) => e.type === 'response.completed' && e.stream_id === 'slow');
    for (const e of s.events) assert.ok(e.stream_id === 'slow' || e.stream_id === 'fast', JSON.stringify(e));
    s.ws.close();
  });
});

test('bad events get an error event and the socket stays usable; authentication is as for HTTP', async () => {
  await withServer({}, async ({ server }) => {
    const s = await rawSocket(server);
    s.ws.send('not json');
    s.ws.send(JSON.stringify({ type: 'response.nonsense' }));
    s.ws.send(JSON.stringify({ type: 'response.create', stream_id: 'bg', model: 'gpt-4o', input: 'x', background: true }));
    s.ws.send(JSON.stringify({ type: 'response.create', stream_id: 'bad', model: 'gpt-4o', input: 5 }));
    s.ws.send(JSON.stringify({ type: 'response.create', stream_id: 'ref', model: 'gpt-4o', input: 'x', previous_response_id: 'resp_nope' }));
    await s.until((e) => e.type === 'error' && e.stream_id === 'ref');
    const errors = s.events.filter((e) => e.type === 'error');
    assert.equal(errors.length, 5, JSON.stringify(errors));
    assert.equal(errors.find((e) => e.stream_id === 'bg').param, 'background');
    assert.equal(errors.find((e) => e.stream_id === 'bad').param, 'input');
    assert.equal(errors.find((e) => e.stream_id === 'ref').param, 'previous_response_id');
    s.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o', input: 'still here' }));
    await s.until((e) => e.type === 'response.completed');
    s.ws.close();
    // No key, a wrong key: the upgrade is refused with the HTTP status.
    for (const key of [null, 'ck_wrong']) {
      const ws = new WebSocket(server.base.replace('http', 'ws') + '/v1/responses', key ? { headers: { authorization: `Bearer ${key}` } } : {});
      const status = await new Promise((resolve) => { ws.on('unexpected-response', (_, res) => resolve(res.statusCode)); ws.on('open', () => resolve(101)); });
      assert.equal(status, 401);
    }
  });
});

test('a client that does not read is cut; what ran stays stored', async () => {
  await withServer({}, async ({ server }) => {
    const s = await rawSocket(server);
    // Stop reading, then ask for many long answers (the fake model echoes its input).
    s.ws._socket.pause();
    const big = 'x'.repeat(200_000);
    for (let i = 0; i < 120; i++) s.ws.send(JSON.stringify({ type: 'response.create', stream_id: `l${i}`, model: 'gpt-4o', input: `${i} ${big}` }));
    await server.waitLog(/-> websocket closed/, 60000);
    assert.match(server.log, /-> websocket closed/);
    s.ws._socket.resume();
    s.ws.terminate();
    // The server kept serving, and what the cut lanes ran is stored and readable over HTTP.
    await sleep(500);
    const r = await server.json('/v1/responses?limit=100');
    assert.equal(r.status, 200);
    assert.ok(r.body.data.length > 0);
    assert.ok(r.body.data.every((x) => ['completed', 'in_progress', 'failed'].includes(x.status)), JSON.stringify(r.body.data.map((x) => x.status)));
  });
});

test('1,000 open sockets: all authenticated and usable at once, and the server keeps serving HTTP', async () => {
  await withServer({}, async ({ server, client }) => {
    const sockets = [];
    for (let i = 0; i < 1000; i += 100) sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => rawSocket(server)))));
    assert.equal(sockets.length, 1000);
    // A turn on every fortieth socket, all at once (within the admission floor of 32 turns).
    const some = sockets.filter((_, i) => i % 40 === 39);
    some.forEach((s, i) => s.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o', input: `socket ${i}` })));
    await Promise.all(some.map((s) => s.until((e) => e.type === "response.completed" || e.type === "error", 30000)));
    const errs = some.flatMap((s) => s.events.filter((e) => e.type === "error"));
    assert.deepEqual(errs, []);
    for (const [i, s] of some.entries()) {
      const done = s.events.find((e) => e.type === 'response.completed');
      assert.equal(done.response.output[0].content[0].text, `echo: socket ${i}`);
    }
    assert.ok(sockets.every((s) => s.ws.readyState === WebSocket.OPEN));
    const r = await client.responses.create({ model: 'gpt-4o', input: 'over http meanwhile' });
    assert.equal(r.status, 'completed');
    for (const s of sockets) s.ws.close();
  });
});

test('pings and the idle timeout: a client that answers pings stays, one that does not is closed; a message over the limit closes with 1009', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  fs.writeFileSync(path.join(server.dataDir, 'ws.toml'), '[limits]\nwebsocket_idle_timeout_ms = 1500\nwebsocket_max_message_bytes = 65536\n');
  server.opts.args = ['--config', path.join(server.dataDir, 'ws.toml')];
  await server.start();
  try {
    const open = (autoPong) => new Promise((resolve, reject) => {
      const ws = new WebSocket(server.base.replace('http', 'ws') + '/v1/responses', { headers: { authorization: `Bearer ${KEY}` }, autoPong });
      const seen = { pings: 0, closed: null };
      ws.on('ping', () => seen.pings++);
      ws.on('close', (code) => (seen.closed = code));
      ws.on('open', () => resolve({ ws, seen }));
      ws.on('error', reject);
    });
    const polite = await open(true);
    const silent = await open(false);
    await sleep(4000);
    assert.ok(polite.seen.pings >= 1, 'the server pings an idle socket');
    assert.equal(polite.seen.closed, null, 'a socket that answers pings stays open');
    assert.notEqual(silent.seen.closed, null, 'a socket that answers nothing is closed after the idle timeout');
    // Still usable after the idle time.
    polite.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o', input: 'after a quiet while' }));
    const done = await new Promise((resolve) => polite.ws.on('message', (d) => { const e = JSON.parse(String(d)); if (e.type === 'response.completed') resolve(e); }));
    assert.equal(done.response.output[0].content[0].text, 'echo: after a quiet while');
    // A message over the limit.
    const big = await open(true);
    big.ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-4o', input: 'x'.repeat(70000) }));
    for (let i = 0; i < 100 && big.seen.closed === null; i++) await sleep(20);
    assert.equal(big.seen.closed, 1009);
    polite.ws.close();
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});
