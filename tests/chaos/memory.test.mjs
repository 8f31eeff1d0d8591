// Memory under abuse: budgets in bytes bound what finished runs, the chain cache and
// conversations keep; a stream evicted from memory still resumes by sequence number; large
// inputs and abandoned streams stay under an RSS ceiling; once the load stops, idle expiry gives
// the memory back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, parseSSE } from '../e2e/harness.mjs';
import { SCALE, randomText, report, rssMiB, startWithConfig } from './lib.mjs';

async function metric(server, name) {
  const text = await (await server.fetch('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line.split(' ')[1]);
}

async function streamTurn(server, body) {
  const r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ ...body, stream: true }) });
  assert.equal(r.status, 200);
  return parseSSE(await r.text());
}


test('a stream whose events were evicted from memory resumes by sequence number, from the store', async () => {
  const { up, server } = await startWithConfig('[storage]\nrun_events_bytes = 1048576\n');
  try {
    const first = await streamTurn(server, { model: 'gpt-4o-mini', input: randomText(60_000) });
    const id = first[0].data.response.id;
    assert.equal(first.at(-1).event, 'response.completed');
    // More streamed turns than the budget holds push the first one out of memory.
    for (let i = 0; i < 12; i++) await streamTurn(server, { model: 'gpt-4o-mini', input: randomText(60_000) });
    assert.ok((await metric(server, 'continuum_run_events_bytes')) <= 1048576 + 400_000);
    await sleep(200);  // the evicted run's events are written in the writer's next group
    const r = await server.fetch(`/v1/responses/${id}?stream=true&starting_after=2`);
    assert.equal(r.status, 200);
    const resumed = parseSSE(await r.text());
    const want = first.filter((e) => e.data.sequence_number > 2);
    assert.deepEqual(resumed.map((e) => e.data), want.map((e) => e.data));

    // A turn that is not stored keeps nothing once its stream ends.
    const before = await metric(server, 'continuum_run_events_bytes');
    for (let i = 0; i < 5; i++) await streamTurn(server, { model: 'gpt-4o-mini', input: randomText(60_000), store: false });
    assert.equal(await metric(server, 'continuum_run_events_bytes'), before);
  } finally {
    await server.stop();
    await up.close();
    server.cleanup();
  }
});

test('large inputs, streams, abandoned streams and conversations stay under an RSS ceiling, and give it back when idle', async () => {
  // Default budgets; cached state unused for 5 s (rather than 30) is dropped.
  const { up, server } = await startWithConfig('[storage]\ncache_idle_seconds = 5\n[models]\ndefault_context_window = 1000000\n');
  const pid = server.proc.pid;
  const idle = rssMiB(pid);
  let peak = idle;
  const sample = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
  try {
    const turns = 160 * SCALE;
    // Conversations of up to 20 turns: a turn reads its whole conversation, so one without end
    // would measure that conversation's size, not the server's bounds.
    const newConv = async () => (await server.json('/v1/conversations', { method: 'POST', body: '{}' })).body.id;
    let conv = await newConv();
    let convTurns = 0;
    let convBusy = false;
    let done = 0;
    const worker = async (w) => {
      for (let i = w; i < turns; i += 8) {
        const input = randomText(200_000);
        const kind = i % 4;
        if (kind === 0) {
          const r = await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', input }) });
          assert.equal(r.status, 200);
          await r.text();
        } else if (kind === 1) {
          await streamTurn(server, { model: 'gpt-4o-mini', input });
        } else if (kind === 2) {
          // Abandoned: the client reads the first event and goes away.
          const ac = new AbortController();
          const r = await server.fetch('/v1/responses', {
            method: 'POST', signal: ac.signal, body: JSON.stringify({ model: 'gpt-4o-mini', input, stream: true }),
          });
          await r.body.getReader().read();
          ac.abort();
        } else if (!convBusy) {
          convBusy = true;
          const r = await server.fetch('/v1/responses', {
            method: 'POST', body: JSON.stringify({ model: 'gpt-4o-mini', input, conversation: conv, truncation: 'auto' }),
          });
          assert.equal(r.status, 200, await r.text());
          if (++convTurns % 20 === 0) conv = await newConv();
          convBusy = false;
        }
        done++;
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    await sleep(3000);
    clearInterval(sample);
    const after = rssMiB(pid);
    const caches = (await metric(server, 'continuum_chain_cache_bytes')) + (await metric(server, 'continuum_run_events_bytes')) +
      (await metric(server, 'continuum_conversation_cache_bytes'));
    // Idle expiry: 5 s after their last use the caches are dropped, and the store's connections
    // give their pages back.
    await sleep(5000);
    const expired = rssMiB(pid);
    const left = (await metric(server, 'continuum_chain_cache_bytes')) + (await metric(server, 'continuum_run_events_bytes')) +
      (await metric(server, 'continuum_conversation_cache_bytes'));
    report('memory under abuse (default budgets)', [
      `${done} turns of 200 KB input (plain, streamed, abandoned streams, conversations of 20 turns), 8 at a time`,
      `RSS idle ${idle.toFixed(0)} MiB, peak ${peak.toFixed(0)} MiB, 3 s after ${after.toFixed(0)} MiB; caches hold ${(caches / 1048576).toFixed(0)} MiB`,
      `8 s after (idle expiry at 5 s): RSS ${expired.toFixed(0)} MiB (${(expired / idle).toFixed(2)}x idle), caches hold ${left} bytes`,
    ]);
    assert.equal(left, 0, 'idle expiry left cached state');
    assert.ok(expired <= idle * 1.5, `RSS ${expired.toFixed(0)} MiB after idle expiry, idle ${idle.toFixed(0)} MiB`);
    // The budgets (64 + 32 + 32 MiB) bound the caches; the rest is the process itself, turns in
    // flight and SQLite's page caches.
    assert.ok(caches <= (64 + 32 + 32) * 1048576 * 1.1, `caches hold ${caches} bytes`);
    assert.ok(peak <= 320, `RSS peaked at ${peak.toFixed(0)} MiB`);
    assert.ok(after <= idle + caches / 1048576 + 96, `RSS stayed at ${after.toFixed(0)} MiB`);
  } finally {
    clearInterval(sample);
    await server.stop();
    await up.close();
    server.cleanup();
  }
});
