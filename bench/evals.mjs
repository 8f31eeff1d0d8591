// Items graded per second by the local graders: one run of N given items per grader set, in one
// server, as ratios against the cheapest (string_check alone).
// Usage: node bench/evals.mjs [items]   (after `make build`; needs tests/e2e's npm packages).
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));

const N = Number(process.argv[2] || 2000);
const upstream = await startFakeUpstream();
const server = new Server({ upstream });
await server.start();
const client = server.client();
const words = 'the quick brown fox jumps over the lazy dog while seven wizards quietly hex a jovial king'.split(' ');
const sentence = (i, n) => Array.from({ length: n }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ');
const content = Array.from({ length: N }, (_, i) => ({ item: { expected: sentence(i, 24) }, sample: { output_text: sentence(i + (i % 3), 24) } }));
const g = (type, extra) => ({ type, name: `${type}_${extra.evaluation_metric || extra.operation}`, input: '{{sample.output_text}}', reference: '{{item.expected}}', ...extra });
const sets = {
  'string_check': [g('string_check', { operation: 'eq' })],
  'fuzzy_match': [g('text_similarity', { evaluation_metric: 'fuzzy_match', pass_threshold: 0.8 })],
  'bleu': [g('text_similarity', { evaluation_metric: 'bleu', pass_threshold: 0.5 })],
  'rouge_l': [g('text_similarity', { evaluation_metric: 'rouge_l', pass_threshold: 0.5 })],
  'all four': [g('string_check', { operation: 'eq' }), g('text_similarity', { evaluation_metric: 'fuzzy_match', pass_threshold: 0.8 }),
    g('text_similarity', { evaluation_metric: 'bleu', pass_threshold: 0.5 }), g('text_similarity', { evaluation_metric: 'rouge_l', pass_threshold: 0.5 })],
};
const rates = {};
for (const [name, criteria] of Object.entries(sets)) {
  const ev = await client.evals.create({ data_source_config: { type: 'custom', item_schema: { type: 'object' }, include_sample_schema: true }, testing_criteria: criteria });
  const t0 = performance.now();
  const run = await client.evals.runs.create(ev.id, { data_source: { type: 'jsonl', source: { type: 'file_content', content } } });
  let r;
  for (;;) {
    r = await client.evals.runs.retrieve(run.id, { eval_id: ev.id });
    if (r.status !== 'queued' && r.status !== 'in_progress') break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const s = (performance.now() - t0) / 1000;
  rates[name] = N / s;
  console.log(`${name.padEnd(13)} ${N} items in ${s.toFixed(2)} s: ${rates[name].toFixed(0)} items/s (${r.result_counts.passed} passed)`);
}
for (const name of Object.keys(rates)) console.log(`${name.padEnd(13)} ${(rates[name] / rates.string_check).toFixed(3)}x string_check's rate`);
await server.stop();
await upstream.close();
server.cleanup();
