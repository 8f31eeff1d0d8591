// Overload: beyond its limits the server sheds new turns with 429 and Retry-After (OpenAI's
// error shape) instead of queueing without bound, and the turns it admits keep their latency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSSE, sleep } from '../e2e/harness.mjs';
import { SCALE, percentile, randomText, report, startWithConfig } from './lib.mjs';

const post = (server, body) => server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify(body) });

test('in-flight input beyond its budget: 429 server_overloaded with Retry-After; small turns still admitted', async () => {
  const { up, server } = await startWithConfig('[limits]\nmax_inflight_bytes = 1000000\n[models]\ndefault_context_window = 1000000\n');
  try {
    // A slow turn holds ~200 KB of input (about 600 KB in memory, counted) while it runs.
    const slow = post(server, { model: 'gpt-4o-mini', input: 'SLOW ' + randomText(200_000) });
    await new Promise((r) => setTimeout(r, 300));
    const big = await post(server, { model: 'gpt-4o-mini', input: randomText(200_000) });
    assert.equal(big.status, 429);
    assert.ok(Number(big.headers.get('retry-after')) >= 1);
    const err = (await big.json()).error;
    assert.equal(err.code, 'server_overloaded');
    assert.equal(err.type, 'rate_limit_error');
    assert.match(err.message, /overloaded/);
    const small = await post(server, { model: 'gpt-4o-mini', input: 'a small turn' });
    assert.equal(small.status, 200);
    assert.equal((await slow).status, 200);
    // Once the slow turn has ended, its bytes are given back.
    const again = await post(server, { model: 'gpt-4o-mini', input: randomText(200_000) });
    assert.equal(again.status, 200);
    const metrics = await (await server.fetch('/metrics')).text();
    assert.match(metrics, /^continuum_turns_shed 1$/m);
    assert.match(metrics, /^continuum_inflight_input_bytes 0$/m);
  } finally {
    await server.stop();
    await up.close();
    server.cleanup();
  }
});

async function timedStream(server, input) {
  const t0 = performance.now();
  const r = await post(server, { model: 'gpt-4o-mini', input, stream: true });
  if (r.status !== 200) return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.text() };
  const events = parseSSE(await r.text());
  return { status: 200, ms: performance.now() - t0, completed: events.at(-1)?.event === 'response.completed' };
}

test('a burst of concurrent streaming turns: the excess is shed, admitted turns complete', async () => {
  // The model answers from a process of its own: this one drives every stream.
  const { up, server } = await startWithConfig(process.env.OVERLOAD_CONFIG ? process.env.OVERLOAD_CONFIG.replaceAll('\\n', '\n') : null,
                                               { separateUpstream: true });
  try {
    const words = Array.from({ length: 2000 }, (_, i) => `w${i % 97}`).join(' ');
    const unloaded = [];
    for (let i = 0; i < 30; i++) unloaded.push((await timedStream(server, words)).ms);
    // The server's own view of each streamed turn (dispatch to the stream's end, from its log):
    // the client's timings include its own queueing, on the same two cores.
    const serverMs = (from) => [...server.log.slice(from).matchAll(/POST \/v1\/responses -> stream \(([\d.]+) ms\)/g)].map((m) => Number(m[1]));
    const unloadedServer = serverMs(0);
    const logMark = server.log.length;
    const n = 400 * SCALE;
    const results = await Promise.all(Array.from({ length: n }, () => timedStream(server, words)));
    // The server's log is written behind its work (it never waits for this process to read it):
    // wait until it has every answer.
    const answered = () => (server.log.slice(logMark).match(/POST \/v1\/responses -> /g) || []).length;
    for (let i = 0; i < 100 && answered() < n; i++) await sleep(50);
    const admitted = results.filter((r) => r.status === 200);
    const shed = results.filter((r) => r.status === 429);
    const other = results.filter((r) => r.status !== 200 && r.status !== 429);
    assert.deepEqual(other, [], 'only 200 and 429 answers');
    assert.ok(admitted.every((r) => r.completed), 'an admitted turn did not complete');
    // Shed by the governor (server_overloaded) or by the cap on responses in progress
    // (limits.max_active_runs: rate_limit_exceeded); both say when to come back.
    const codes = {};
    for (const r of shed) {
      assert.ok(Number(r.retryAfter) >= 1, 'a 429 without Retry-After');
      const code = JSON.parse(r.body).error.code;
      assert.ok(['server_overloaded', 'rate_limit_exceeded'].includes(code), code);
      codes[code] = (codes[code] || 0) + 1;
    }
    const lat = admitted.map((r) => r.ms);
    report(`overload: ${n} concurrent streaming turns of 2,000 words`, [
      `unloaded p50 ${percentile(unloaded, 50).toFixed(1)} ms, p99 ${percentile(unloaded, 99).toFixed(1)} ms (30 sequential turns)`,
      `admitted ${admitted.length}, shed with 429 ${shed.length} ${JSON.stringify(codes)}`,
      `admitted p50 ${percentile(lat, 50).toFixed(0)} ms, p99 ${percentile(lat, 99).toFixed(0)} ms, max ${Math.max(...lat).toFixed(0)} ms (client's view)`,
      `server's view: unloaded p99 ${percentile(unloadedServer, 99).toFixed(1)} ms; admitted p50 ${percentile(serverMs(logMark), 50).toFixed(1)} ms, p99 ${percentile(serverMs(logMark), 99).toFixed(1)} ms`,
    ]);
  } finally {
    await server.stop();
    await up.close();
    server.cleanup();
  }
});
