// Bad input: every case gets its precise 4xx in OpenAI's error shape, and the server keeps
// serving with nothing lost. Also authentication and isolation between projects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { withServer, Server, KEY } from './harness.mjs';

function shaped(body) {
  assert.ok(body && body.error, JSON.stringify(body));
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in body.error, `missing ${k}`);
}

test('table of bad requests', async () => {
  await withServer({}, async ({ server, client }) => {
    const keep = await client.responses.create({ model: 'm', input: 'keep me' });
    const cases = [
      ['malformed JSON', '/v1/responses', 'POST', '{"model": "m", "input": ', 400, null],
      ['not an object', '/v1/responses', 'POST', '[1,2]', 400, null],
      ['empty body', '/v1/responses', 'POST', '', 400, null],
      ['missing model', '/v1/responses', 'POST', '{"input":"x"}', 400, 'model'],
      ['wrong type', '/v1/responses', 'POST', '{"model":"m","input":"x","stream":"yes"}', 400, 'stream'],
      ['bad item', '/v1/responses', 'POST', '{"model":"m","input":[{"role":"user"}]}', 400, 'input[0].content'],
      ['hosted tool', '/v1/responses', 'POST', '{"model":"m","input":"x","tools":[{"type":"file_search"}]}', 400, 'tools[0].type'],
      ['unknown previous', '/v1/responses', 'POST', '{"model":"m","input":"x","previous_response_id":"resp_nope"}', 400, 'previous_response_id'],
      ['both chain kinds', '/v1/responses', 'POST', '{"model":"m","input":"x","previous_response_id":"resp_a","conversation":"conv_b"}', 400, 'conversation'],
      ['unknown response', '/v1/responses/resp_nope', 'GET', undefined, 404, null],
      ['unknown input items', '/v1/responses/resp_nope/input_items', 'GET', undefined, 404, null],
      ['unknown delete', '/v1/responses/resp_nope', 'DELETE', undefined, 404, null],
      ['bad limit', `/v1/responses/${keep.id}/input_items?limit=500`, 'GET', undefined, 400, 'limit'],
      ['bad after', `/v1/responses/${keep.id}/input_items?after=msg_nope`, 'GET', undefined, 400, 'after'],
      ['bad starting_after', `/v1/responses/${keep.id}?stream=true&starting_after=x`, 'GET', undefined, 400, 'starting_after'],
      ['unknown route', '/v1/nothing', 'GET', undefined, 404, null],
      ['wrong method', '/v1/responses', 'PUT', undefined, 405, null],
    ];
    for (const [name, path, method, body, status, param] of cases) {
      const r = await server.json(path, { method, body });
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      shaped(r.body);
      if (param) assert.equal(r.body.error.param, param, name);
      assert.match(r.headers.get('content-type'), /application\/json/);
    }
    // Invalid UTF-8 inside a JSON string.
    const bad = Buffer.concat([Buffer.from('{"model":"m","input":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    let r = await fetch(server.base + '/v1/responses', { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: bad });
    assert.equal(r.status, 400);
    shaped(await r.json());
    // A body over the limit.
    r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x'.repeat(9 * 1024 * 1024) }) });
    assert.equal(r.status, 413);
    shaped(await r.json());
    // Huge headers.
    r = await fetch(server.base + '/v1/responses/x', { headers: { authorization: `Bearer ${KEY}`, 'x-big': 'y'.repeat(20000) } }).catch((e) => e);
    if (!(r instanceof Error)) assert.equal(r.status, 431);
    // Garbage on the socket.
    await new Promise((resolve) => {
      const s = net.connect(server.port, '127.0.0.1', () => s.write('NOT HTTP AT ALL\r\n\r\n'));
      s.on('data', (d) => { assert.match(d.toString(), /^HTTP\/1.1 400/); s.destroy(); resolve(); });
      s.on('error', resolve);
    });
    // Still serving, nothing lost.
    assert.equal((await client.responses.retrieve(keep.id)).output_text, 'echo: keep me');
    const again = await client.responses.create({ model: 'm', input: 'still here', previous_response_id: keep.id });
    assert.equal(again.status, 'completed');
  });
});

test('authentication: every /v1 route needs a valid bearer key', async () => {
  await withServer({}, async ({ server }) => {
    for (const [path, method] of [['/v1/responses', 'POST'], ['/v1/responses/resp_x', 'GET'], ['/v1/conversations', 'POST'], ['/v1/conversations/conv_x/items', 'GET']]) {
      let r = await fetch(server.base + path, { method, body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 401, path);
      const body = await r.json();
      shaped(body);
      r = await server.fetch(path, { method, key: 'wrong-key', body: method === 'POST' ? '{}' : undefined });
      assert.equal(r.status, 401);
      assert.equal((await r.json()).error.code, 'invalid_api_key');
    }
    const health = await fetch(server.base + '/healthz');
    assert.equal(health.status, 200);
    assert.doesNotMatch(server.log, new RegExp(KEY));
  });
});

test('isolation: another project cannot see or use this project\'s objects', async () => {
  const server = new Server({ upstream: null, upstream_: false });
  const otherKey = server.createKey('proj_other');
  await server.start();
  try {
    const mine = server.client();
    const theirs = server.client(otherKey);
    const r = await mine.responses.create({ model: 'continuum-local', input: 'secret' });
    const c = await mine.conversations.create({ items: [{ role: 'user', content: 'secret' }] });
    await assert.rejects(theirs.responses.retrieve(r.id), (e) => e.status === 404);
    await assert.rejects(theirs.responses.inputItems.list(r.id), (e) => e.status === 404);
    await assert.rejects(theirs.responses.delete(r.id), (e) => e.status === 404);
    await assert.rejects(theirs.responses.create({ model: 'continuum-local', input: 'x', previous_response_id: r.id }), (e) => e.status === 400);
    await assert.rejects(theirs.conversations.retrieve(c.id), (e) => e.status === 404);
    await assert.rejects(theirs.conversations.items.list(c.id), (e) => e.status === 404);
    await assert.rejects(theirs.responses.create({ model: 'continuum-local', input: 'x', conversation: c.id }), (e) => e.status === 404);
    assert.equal((await mine.responses.retrieve(r.id)).status, 'completed');
  } finally {
    await server.stop();
    server.cleanup();
  }
});
