// kill -9 at random moments under mixed concurrent load — chained, conversation, streamed and
// background turns — and every acknowledged id checked after each restart: a response the API
// acknowledged survives, whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Server, sleep, parseSSE } from '../e2e/harness.mjs';
import { startFakeUpstream } from '../e2e/fake-upstream.mjs';
import { SCALE, report } from './lib.mjs';

test('kill -9 under mixed load loses no acknowledged turn', async () => {
  const up = await startFakeUpstream();
  const server = new Server({ upstream: up });
  await server.start();
  const acked = [];  // { id, kind, conv?, text }
  const convTurns = new Map();  // conversation id -> acknowledged turns in it
  const cycles = 3 * SCALE;
  const restarts = [];
  let stop = false;
  const post = async (body) => {
    const r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify(body) });
    return r;
  };
  const workers = {
    async chain(w) {
      let prev;
      for (let i = 0; !stop; i++) {
        const text = `chain ${w} turn ${i}`;
        const r = await post({ model: 'gpt-4o-mini', input: text, ...(prev ? { previous_response_id: prev } : {}) });
        if (r.status !== 200) return;
        const body = await r.json();
        acked.push({ id: body.id, kind: 'chain', text });
        prev = body.id;
      }
    },
    async conversation(w) {
      const c = await server.json('/v1/conversations', { method: 'POST', body: '{}' });
      if (c.status !== 200) return;
      convTurns.set(c.body.id, convTurns.get(c.body.id) || 0);
      for (let i = 0; !stop; i++) {
        const text = `conversation ${w} turn ${i}`;
        const r = await post({ model: 'gpt-4o-mini', input: text, conversation: c.body.id });
        if (r.status !== 200) return;
        acked.push({ id: (await r.json()).id, kind: 'conversation', text, conv: c.body.id });
        convTurns.set(c.body.id, convTurns.get(c.body.id) + 1);
      }
    },
    async stream(w) {
      for (let i = 0; !stop; i++) {
        const text = `stream ${w} turn ${i}`;
        const r = await post({ model: 'gpt-4o-mini', input: text, stream: true });
        if (r.status !== 200) return;
        const events = parseSSE(await r.text());
        const last = events.at(-1);
        if (last?.event !== 'response.completed') return;  // cut by the kill: not acknowledged
        acked.push({ id: last.data.response.id, kind: 'stream', text });
      }
    },
    async background(w) {
      for (let i = 0; !stop; i++) {
        const r = await post({ model: 'gpt-4o-mini', input: `background ${w} turn ${i}`, background: true });
        if (r.status !== 200) return;
        acked.push({ id: (await r.json()).id, kind: 'background' });
      }
    },
  };
  try {
    for (let cycle = 0; cycle < cycles; cycle++) {
      stop = false;
      const running = Object.values(workers).flatMap((fn) => [fn(0).catch(() => {}), fn(1).catch(() => {})]);
      await sleep(300 + Math.random() * 1200);
      await server.kill9();
      stop = true;
      await Promise.all(running);
      const t0 = Date.now();
      await server.start();
      restarts.push(Date.now() - t0);
      // Every acknowledged response is there, finished as it was acknowledged.
      for (const a of acked) {
        const r = await server.json(`/v1/responses/${a.id}`);
        assert.equal(r.status, 200, `${a.kind} ${a.id} lost after kill ${cycle + 1}`);
        if (a.kind === 'background') {
          assert.ok(['queued', 'in_progress', 'completed', 'failed'].includes(r.body.status));
        } else {
          assert.equal(r.body.status, 'completed', `${a.kind} ${a.id}`);
          assert.equal(r.body.output[0].content[0].text, `echo: ${a.text}`);
        }
      }
      for (const [conv, n] of convTurns) {
        const items = await server.json(`/v1/conversations/${conv}/items?limit=100`);
        assert.equal(items.status, 200);
        // Two items (input, output) per acknowledged turn; a turn cut by the kill adds none.
        assert.ok(items.body.data.length >= Math.min(2 * n, 100), `conversation ${conv}: ${items.body.data.length} items for ${n} turns`);
      }
    }
    report(`kill -9 under mixed load (${cycles} cycles)`, [
      `${acked.length} acknowledged turns (chained, conversation, streamed, background), none lost`,
      `restart to serving: median ${restarts.sort((a, b) => a - b)[Math.floor(restarts.length / 2)]} ms`,
    ]);
    assert.ok(acked.length > 10 * cycles, `only ${acked.length} turns were acknowledged`);
  } finally {
    stop = true;
    await server.stop();
    await up.close();
    server.cleanup();
  }
});
