// Scale-out on PostgreSQL, measured on this machine in one run:
// - throughput of chained turns (each continues its worker's last response, the built-in model,
//   so the store and the server are what is measured) on SQLite, on one PostgreSQL node, and on
//   three PostgreSQL nodes behind a round-robin client, as ratios to the one-node PostgreSQL run;
// - a turn's latency after 1,000 turns of history (one chain), on PostgreSQL;
// - a chained turn continued on another node than the one that ran its parent, against the same
//   node (p50, interleaved);
// - cross-node stream latency: a background run streams on one node while two followers read it
//   (GET /v1/responses/{id}?stream=true), one on the same node and one on another; each event's
//   arrival at the other node's follower, against its arrival at the same node's;
// - failover: the time from kill -9 of a node with a run in flight until another node has taken
//   the run over, at the default lease (5 s) and heartbeat (1 s).
// Usage: CONTINUUM_TEST_PG=postgres://... node bench/cluster.mjs [seconds] [workers]
//   (after `make build`; `scripts/pg.sh run build/pg 54329 -- node bench/cluster.mjs` starts a
//   throwaway PostgreSQL for it; needs tests/e2e's npm packages.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
const e2e = path.resolve(import.meta.dirname, '../tests/e2e');
const { Server, KEY, pgDatabase, dropPgDatabase, sleep } = await import(path.join(e2e, 'harness.mjs'));
const { startFakeUpstream } = await import(path.join(e2e, 'fake-upstream.mjs'));

if (!process.env.CONTINUUM_TEST_PG) throw new Error('set CONTINUUM_TEST_PG (scripts/pg.sh run ... -- node bench/cluster.mjs)');
const SECONDS = Number(process.argv[2] || 10);
const WORKERS = Number(process.argv[3] || 16);
const pct = (a, p) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * p))];

async function turn(node, input, previous) {
  const r = await fetch(node.base + '/v1/responses', {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', input, previous_response_id: previous, memory: 'off' }),
  });
  const body = await r.json();
  if (r.status !== 200) throw new Error(`${r.status} ${JSON.stringify(body)}`);
  return body.id;
}

// `nodes` on one store; key files shared.
async function start(n, store, opts = {}) {
  const nodes = [];
  for (let i = 0; i < n; i++) {
    const s = new Server({ store, ...opts });
    if (i > 0)
      for (const f of fs.readdirSync(nodes[0].dataDir).filter((f) => /\.(secret|key)$/.test(f)))
        fs.copyFileSync(path.join(nodes[0].dataDir, f), path.join(s.dataDir, f));
    await s.start();
    nodes.push(s);
  }
  return nodes;
}
async function stop(nodes) {
  for (const s of nodes) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) await s.stop();
    s.cleanup();
  }
}

async function throughput(nodes) {
  let done = 0, k = 0;
  const until = Date.now() + SECONDS * 1000;
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    let prev;
    for (let i = 0; i < 5; i++) prev = await turn(nodes[(k++) % nodes.length], `warm ${w}`, prev);
    while (Date.now() < until) {
      prev = await turn(nodes[(k++) % nodes.length], `worker ${w} turn`, prev);
      done++;
    }
  }));
  return done / SECONDS;
}

const out = [];
const log = (s) => { console.log(s); out.push(s); };
log(`# cluster bench: ${os.cpus().length} cores (${os.cpus()[0].model}); PostgreSQL, the nodes and this client share them`);
log(`chained turns, ${WORKERS} workers, ${SECONDS} s per configuration, the built-in model`);

const rates = {};
{
  const nodes = await start(1, '');
  rates.sqlite = await throughput(nodes);
  await stop(nodes);
}
for (const n of [1, 3]) {
  const db = pgDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-bench-')));
  const nodes = await start(n, db.url);
  rates[`pg${n}`] = await throughput(nodes);
  if (n === 3) {
    // Same node against another node, interleaved.
    const same = [], other = [];
    let prev = await turn(nodes[0], 'start');
    for (let i = 0; i < 200; i++) {
      let t0 = performance.now();
      prev = await turn(nodes[0], 'same node', prev);
      same.push(performance.now() - t0);
      t0 = performance.now();
      prev = await turn(nodes[1 + (i % 2)], 'other node', prev);
      other.push(performance.now() - t0);
    }
    log(`continuing a chain: same node p50 ${pct(same, 0.5).toFixed(2)} ms, another node p50 ${pct(other, 0.5).toFixed(2)} ms (ratio ${(pct(other, 0.5) / pct(same, 0.5)).toFixed(2)})`);
  }
  if (n === 1) {
    // 1,000 turns of history, then the latency of the next turns.
    let prev;
    for (let i = 0; i < 1000; i++) prev = await turn(nodes[0], `history turn ${i}`, prev);
    const lat = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      prev = await turn(nodes[0], `after history ${i}`, prev);
      lat.push(performance.now() - t0);
    }
    log(`a turn after 1,000 turns of history (PostgreSQL, one node): p50 ${pct(lat, 0.5).toFixed(2)} ms, p99 ${pct(lat, 0.99).toFixed(2)} ms`);
  }
  await stop(nodes);
  dropPgDatabase(db);
}
log(`turns/s: SQLite ${rates.sqlite.toFixed(0)}, PostgreSQL 1 node ${rates.pg1.toFixed(0)}, 3 nodes ${rates.pg3.toFixed(0)}`);
log(`ratios to one PostgreSQL node: SQLite ${(rates.sqlite / rates.pg1).toFixed(2)}x, 3 nodes ${(rates.pg3 / rates.pg1).toFixed(2)}x`);

// Every event of a followed stream, with the time it arrived.
async function follow(node, id) {
  const r = await fetch(`${node.base}/v1/responses/${id}?stream=true`, { headers: { authorization: `Bearer ${KEY}` } });
  const decoder = new TextDecoder();
  const at = new Map();
  let buf = '';
  for await (const chunk of r.body) {
    const now = performance.now();
    buf += decoder.decode(chunk, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '));
      if (!data) continue;
      const ev = JSON.parse(data.slice(6));
      if (ev.sequence_number !== undefined) at.set(ev.sequence_number, now);
    }
  }
  return at;
}

{
  const upstream = await startFakeUpstream();
  const db = pgDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-bench-')));
  const nodes = await start(2, db.url, { upstream });
  const lag = [];
  for (let i = 0; i < 5; i++) {
    // Created streaming (its events are kept for followers); its own stream is drained aside.
    const created = await fetch(`${nodes[0].base}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', input: 'SLOW stream', background: true, stream: true }),
    });
    const reader = created.body.getReader();
    let head = '';
    while (!/"resp_[A-Za-z0-9]+"/.test(head)) head += new TextDecoder().decode((await reader.read()).value);
    const id = head.match(/"(resp_[A-Za-z0-9]+)"/)[1];
    const drain = (async () => { while (!(await reader.read()).done); })();
    const [same, other] = await Promise.all([follow(nodes[0], id), follow(nodes[1], id)]);
    await drain;
    for (const [seq, t] of same) if (other.has(seq) && seq > 2) lag.push(other.get(seq) - t);
  }
  log(`cross-node stream latency (an event at a follower on another node, after a follower on the run's node): p50 ${pct(lag, 0.5).toFixed(1)} ms, p99 ${pct(lag, 0.99).toFixed(1)} ms (${lag.length} events)`);
  await stop(nodes);
  dropPgDatabase(db);
  await upstream.close();
}

{
  const upstream = await startFakeUpstream();
  const db = pgDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-bench-')));
  const nodes = await start(2, db.url, { upstream });
  const res = await nodes[0].json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'LONGSLOW', background: true }) });
  await sleep(300);
  await nodes[0].kill9();
  const t0 = Date.now();
  for (;;) {
    const r = await nodes[1].json(`/v1/responses/${res.body.id}`);
    if (r.body.status === 'failed') break;
    if (Date.now() - t0 > 30000) throw new Error('not taken over');
    await sleep(20);
  }
  log(`failover after kill -9 (lease 5 s, heartbeat 1 s): the run taken over ${Date.now() - t0} ms later`);
  await stop(nodes);
  dropPgDatabase(db);
  await upstream.close();
}
fs.writeFileSync(path.join(import.meta.dirname, 'results', 'cluster.md'), out.join('\n') + '\n');
