// The session surface: what a compaction costs against the tokens it saves, and what counting a
// turn's tokens costs against running it — in one run, against the recording fake upstream.
//   compaction   a conversation of T turns (each ~W words) grows; with context_management on
//                (threshold K tokens) it is compacted when over K. Reported: the tokens the model
//                was sent over all T turns with and without compaction (two conversations side
//                by side, same inputs), the summaries' own tokens, the p50 turn latency of each,
//                and the p50 of an explicit POST /v1/responses/compact of the long conversation.
//   counting     POST /v1/responses/input_tokens against POST /v1/responses of the same body (a
//                chain of 20 turns), interleaved: the count's p50 and its ratio to a turn's.
// Usage: node bench/session.mjs [turns] [words] [threshold] [iterations]   (after `make build`;
// needs tests/e2e's npm packages: `cd tests/e2e && npm ci`).
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));
const { getEncoding } = await import(path.join(e2e, 'node_modules/js-tiktoken/dist/index.js'));
const o200k = getEncoding('o200k_base');
// The tokens of what a model call was sent (its messages' text; the fake upstream's own usage
// figures are constants).
const tokensOf = (messages) => messages.reduce((n, m) => n + 3 + o200k.encode(typeof m.content === 'string' ? m.content : JSON.stringify(m.content ?? m.tool_calls ?? '')).length, 3);

const T = Number(process.argv[2] || 60);
const W = Number(process.argv[3] || 200);
const K = Number(process.argv[4] || 4000);
const N = Number(process.argv[5] || 200);
const upstream = await startFakeUpstream();
const server = new Server({ upstream });
await server.start();
const post = async (p, body) => {
  const r = await server.json(p, { method: 'POST', body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`${p}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};
const p50 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const time = async (f) => { const t0 = process.hrtime.bigint(); const v = await f(); return [Number(process.hrtime.bigint() - t0) / 1e6, v]; };
const SUMMARY = /You compact a conversation/;

// Compaction: two conversations, the same inputs, one compacting.
const plain = (await post('/v1/conversations', {})).id;
const compacted = (await post('/v1/conversations', {})).id;
const sent = { plain: 0, compacted: 0, summaries: 0 };
const lat = { plain: [], compacted: [] };
const words = Array.from({ length: W }, (_, i) => `word${i % 50}`).join(' ');
for (let t = 0; t < T; t++) {
  const input = `turn ${t}: ${words}`;
  for (const [kind, conv] of [['plain', plain], ['compacted', compacted]]) {
    const before = upstream.requests.length;
    const body = { model: 'gpt-4o', conversation: conv, input, memory: 'off' };
    if (kind === 'compacted') body.context_management = [{ type: 'compaction', compact_threshold: K }];
    const [ms] = await time(() => post('/v1/responses', body));
    lat[kind].push(ms);
    for (const q of upstream.requests.slice(before)) {
      if (!q.body?.messages) continue;
      const tokens = tokensOf(q.body.messages);
      if (SUMMARY.test(q.body.messages[0]?.content ?? '')) sent.summaries += tokens;
      else sent[kind] += tokens;
    }
  }
}
const count = async (conv) => (await post('/v1/responses/input_tokens', { model: 'gpt-4o', conversation: conv, input: 'next' })).input_tokens;
const finalPlain = await count(plain), finalCompacted = await count(compacted);
const compactMs = [];
for (let i = 0; i < 10; i++) compactMs.push((await time(() => post('/v1/responses/compact', { model: 'gpt-4o', conversation: plain, input: 'next' })))[0]);
console.log(`compaction: ${T} turns of ~${W} words, threshold ${K} tokens`);
console.log(`  input tokens sent over all turns: plain ${sent.plain}, compacted ${sent.compacted} (+ ~${sent.summaries} for the summaries): ${(sent.plain / (sent.compacted + sent.summaries)).toFixed(2)}x fewer`);
console.log(`  the next turn's context: plain ${finalPlain} tokens, compacted ${finalCompacted} (${(finalPlain / finalCompacted).toFixed(1)}x smaller)`);
console.log(`  turn p50: plain ${p50(lat.plain).toFixed(2)} ms, compacting ${p50(lat.compacted).toFixed(2)} ms (ratio ${(p50(lat.compacted) / p50(lat.plain)).toFixed(2)})`);
console.log(`  POST /v1/responses/compact of the ${T}-turn conversation: p50 ${p50(compactMs).toFixed(2)} ms`);

// Counting against running, on a 20-turn chain.
let prev = null;
for (let i = 0; i < 20; i++) prev = (await post('/v1/responses', { model: 'gpt-4o', input: `chain ${i}: ${words}`, previous_response_id: prev ?? undefined, memory: 'off' })).id;
const c = [], r = [];
for (let i = 0; i < N; i++) {
  const body = { model: 'gpt-4o', input: `question ${i}`, previous_response_id: prev, memory: 'off' };
  c.push((await time(() => post('/v1/responses/input_tokens', body)))[0]);
  r.push((await time(() => post('/v1/responses', { ...body, store: false })))[0]);
}
console.log(`counting: input_tokens p50 ${p50(c).toFixed(3)} ms, a turn p50 ${p50(r).toFixed(3)} ms (ratio ${(p50(c) / p50(r)).toFixed(2)}), ${N} each, interleaved`);
await server.stop();
await upstream.close();
server.cleanup();
