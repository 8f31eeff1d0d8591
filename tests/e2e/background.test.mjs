// Background responses: immediate acknowledgement, polling, cancel, streaming, and surviving a
// restart of the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withServer, Server, sleep, parseSSE } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

async function poll(client, id, until = (r) => !['queued', 'in_progress'].includes(r.status)) {
  for (let i = 0; i < 200; i++) {
    const r = await client.responses.retrieve(id);
    if (until(r)) return r;
    await sleep(25);
  }
  throw new Error('timed out polling ' + id);
}

test('background returns at once and completes without the client', async () => {
  await withServer({}, async ({ client }) => {
    const t0 = Date.now();
    const r = await client.responses.create({ model: 'm', input: 'SLOW job', background: true });
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(['queued', 'in_progress'].includes(r.status));
    assert.equal(r.background, true);
    const done = await poll(client, r.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.output_text.trim().split(' ').length, 20);
  });
});

test('cancel a background response; cancel is idempotent; non-background cannot be cancelled', async () => {
  await withServer({}, async ({ client }) => {
    const r = await client.responses.create({ model: 'm', input: 'SLOW job', background: true });
    await poll(client, r.id, (x) => x.status === 'in_progress');
    const c = await client.responses.cancel(r.id);
    assert.equal(c.status, 'cancelled');
    const again = await client.responses.cancel(r.id);
    assert.equal(again.status, 'cancelled');
    assert.equal((await client.responses.retrieve(r.id)).status, 'cancelled');
    const fg = await client.responses.create({ model: 'm', input: 'x' });
    await assert.rejects(client.responses.cancel(fg.id), (e) => e.status === 400);
    await assert.rejects(client.responses.cancel('resp_unknown'), (e) => e.status === 404);
  });
});

test('background + stream: created, queued, in_progress, then the events; replay from the store', async () => {
  await withServer({}, async ({ server, client }) => {
    const res = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'bg stream', background: true, stream: true }) });
    const events = parseSSE(await res.text());
    assert.deepEqual(events.slice(0, 3).map((e) => e.data.type), ['response.created', 'response.queued', 'response.in_progress']);
    assert.equal(events[0].data.response.status, 'queued');
    assert.equal(events.at(-1).data.type, 'response.completed');
    const id = events[0].data.response.id;
    // The SDK's resume path: retrieve with stream=true replays the stored log.
    const stream = client.responses.stream({ response_id: id, starting_after: 3 });
    const seen = [];
    stream.on('event', (e) => seen.push(e.sequence_number));
    const final = await stream.finalResponse();
    assert.equal(final.output_text, 'echo: bg stream');
    assert.ok(seen.every((n) => n > 3));
  });
});

test('a background run in flight at kill -9 is failed with a reason after restart', async () => {
  const upstream = await startFakeUpstream();
  const server = new Server({ upstream });
  await server.start();
  try {
    const client = server.client();
    const done = await client.responses.create({ model: 'm', input: 'quick', background: true });
    await poll(client, done.id);
    const r = await client.responses.create({ model: 'm', input: 'SLOW long job', background: true });
    await poll(client, r.id, (x) => x.status === 'in_progress');
    await server.kill9();
    await server.start();
    const after = await server.client().responses.retrieve(r.id);
    assert.equal(after.status, 'failed');
    assert.match(after.error.message, /interrupted/);
    assert.equal(after.error.code, 'server_error');
    const kept = await server.client().responses.retrieve(done.id);
    assert.equal(kept.status, 'completed');
    assert.equal(kept.output_text, 'echo: quick');
  } finally {
    await server.stop();
    await upstream.close();
    server.cleanup();
  }
});
