// Online evaluation's cost on the serving path: turns as an agent whose every completed run is
// graded (sampling_rate 1) against turns as an identical agent without online evaluation,
// interleaved in one run; p50 and p99 of each, and how many runs were graded meanwhile.
// Usage: node bench/online_eval.mjs [turns]   (after `make build`; needs tests/e2e's npm packages).
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server, KEY } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));

const N = Number(process.argv[2] || 500);
const upstream = await startFakeUpstream();
const server = new Server({ upstream });
await server.start();
const call = async (method, p, body) => {
  const r = await fetch(server.base + p, { method, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  return r.json();
};
for (const name of ['graded', 'plain']) await call('POST', '/v1/agents', { name, model: 'gpt-4o', instructions: 'Answer.' });
const ev = await call('POST', '/v1/evals', { data_source_config: { type: 'logs' }, testing_criteria: [
  { type: 'string_check', name: 'echo', input: '{{sample.output_text}}', reference: 'echo', operation: 'like' },
  { type: 'text_similarity', name: 'sim', input: '{{sample.output_text}}', reference: 'echo: turn', evaluation_metric: 'rouge_l', pass_threshold: 0.5 }] });
await call('PUT', '/v1/agents/graded/online_eval', { eval_id: ev.id, sampling_rate: 1, window: 100 });
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];
const times = { graded: [], plain: [] };
const turn = (agent, i) => call('POST', '/v1/responses', { model: `agent:${agent}`, input: `turn ${i}` });
for (let i = 0; i < 30; i++) { await turn('graded', i); await turn('plain', i); }  // warm-up
for (let i = 0; i < N; i++) {
  for (const agent of i % 2 ? ['graded', 'plain'] : ['plain', 'graded']) {
    const t0 = process.hrtime.bigint();
    await turn(agent, i);
    times[agent].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
const state = await call('GET', '/v1/agents/graded/online_eval');
console.log(`turns: ${N} per agent, interleaved; runs graded online meanwhile: ${state.versions?.[0]?.graded ?? 0}`);
for (const k of ['plain', 'graded']) console.log(`${k.padEnd(7)} p50 ${pct(times[k], 0.5).toFixed(3)} ms  p99 ${pct(times[k], 0.99).toFixed(3)} ms`);
console.log(`graded / plain: p50 ${(pct(times.graded, 0.5) / pct(times.plain, 0.5)).toFixed(3)}, p99 ${(pct(times.graded, 0.99) / pct(times.plain, 0.99)).toFixed(3)}`);
await server.stop();
await upstream.close();
server.cleanup();
