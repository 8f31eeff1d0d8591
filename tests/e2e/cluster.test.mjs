// Many nodes on one PostgreSQL store (runs only with CONTINUUM_TEST_PG, as `make test` sets it):
// any node serves any session; a node killed with -9 has its runs taken over and loses nothing it
// acknowledged; a node paused past its lease is fenced when it comes back; `continuum migrate`
// copies a SQLite data directory, verified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { Server, PG, BIN, KEY, pgDatabase, dropPgDatabase, sleep } from './harness.mjs';
import { startFakeUpstream } from './fake-upstream.mjs';

const skip = PG ? false : 'needs CONTINUUM_TEST_PG (make test starts PostgreSQL)';
const LEASE_MS = 1500;

// `n` nodes on one new database. They share the first node's key files, as nodes of one
// deployment must (docs/scale-out.md).
async function startCluster(n, upstream, env = {}) {
  const db = pgDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-cluster-')));
  const cfg = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-cfg-')), 'c.toml');
  fs.writeFileSync(cfg, `[cluster]\nheartbeat_ms = 300\nlease_ms = ${LEASE_MS}\n`);
  const nodes = [];
  const add = async () => {
    const s = new Server({ upstream, store: db.url, args: ['--config', cfg], env });
    if (nodes.length > 0)
      for (const f of fs.readdirSync(nodes[0].dataDir).filter((f) => /\.(secret|key)$/.test(f)))
        fs.copyFileSync(path.join(nodes[0].dataDir, f), path.join(s.dataDir, f));
    await s.start();
    nodes.push(s);
    return s;
  };
  for (let i = 0; i < n; i++) await add();
  return {
    db,
    nodes,
    add,
    async stop() {
      for (const s of nodes) {
        if (s.proc.exitCode === null && s.proc.signalCode === null) await s.stop();
        s.cleanup();
      }
      dropPgDatabase(db);
    },
  };
}

async function settled(node, id, ms = 15000) {
  const t0 = Date.now();
  for (;;) {
    const r = await node.client().responses.retrieve(id);
    if (!['queued', 'in_progress'].includes(r.status)) return { r, ms: Date.now() - t0 };
    if (Date.now() - t0 > ms) throw new Error(`${id} still ${r.status} after ${ms} ms`);
    await sleep(50);
  }
}

const said = (req) => JSON.stringify(req.body.messages);

// Polls `probe` until it returns a truthy value; fails naming `what` after `ms`.
async function eventually(what, probe, ms = 5000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    if ((last = await probe())) return last;
    await sleep(20);
  }
  assert.fail(`${what}: not within ${ms} ms`);
}

test('three nodes serve one session: chains, conversations and keys, whichever node gets the request', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(3, upstream);
  try {
    const [a, b, n3] = c.nodes;
    const r1 = await a.client().responses.create({ model: 'm', input: 'My name is Ada.' });
    const r2 = await b.client().responses.create({ model: 'm', input: 'What is my name?', previous_response_id: r1.id });
    assert.match(said(upstream.last()), /My name is Ada\./);  // node b read node a's turn
    assert.equal((await n3.client().responses.retrieve(r2.id)).output_text, r2.output_text);

    // A conversation whose turns land on different nodes: each sees every earlier turn.
    const conv = await a.client().conversations.create({});
    const order = [a, b, n3, a, b];
    for (const [i, node] of order.entries()) {
      await node.client().responses.create({ model: 'm', input: `turn number ${i}`, conversation: conv.id });
      for (let j = 0; j < i; j++) assert.match(said(upstream.last()), new RegExp(`turn number ${j}`), `turn ${i} on node ${order.indexOf(node)}`);
    }
    const items = await n3.client().conversations.items.list(conv.id, { limit: 100 });
    assert.equal(items.data.length, 2 * order.length);
    // Turns sent one after another, each to the next node: the line a turn held is free on every
    // node once its answer arrived (never 409 conversation_busy).
    const quick = await a.client().conversations.create({});
    for (let i = 0; i < 30; i++) await c.nodes[i % 3].client().responses.create({ model: 'm', input: `quick ${i}`, conversation: quick.id });

    // A key made on one node works on another; revoked there, it stops working everywhere.
    const made = await a.json('/v1/admin/keys', { method: 'POST', body: JSON.stringify({ name: 'k', scopes: ['responses'] }) });
    assert.equal(made.status, 200);
    const use = (node) => node.json('/v1/responses', { method: 'POST', key: made.body.value, body: JSON.stringify({ model: 'm', input: 'hi' }) });
    // An unknown key makes a node read the key table again, at most once a second.
    let first = 401;
    for (let i = 0; i < 30 && first === 401; i++) {
      first = (await use(b)).status;
      if (first === 401) await sleep(100);
    }
    assert.equal(first, 200);
    assert.equal((await a.json(`/v1/admin/keys/${made.body.id}`, { method: 'DELETE' })).status, 200);
    let status = 200;
    for (let i = 0; i < 60 && status === 200; i++) {
      await sleep(100);
      status = (await use(b)).status;
    }
    assert.equal(status, 401, 'a key revoked on one node is refused by the others');
  } finally {
    await c.stop();
    await upstream.close();
  }
});

// Every event of a stream the official SDK follows, in order.
async function collect(stream) {
  const out = [];
  for await (const ev of await stream) out.push(ev);
  return out;
}

test('the official SDK streams, from one node, a run executing on another; resumption and cancellation cross nodes', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(3, upstream);
  try {
    const [a, b, n3] = c.nodes;
    // The run executes on a; its creator streams it there, b and n3 follow it from the start.
    const own = await a.client().responses.create({ model: 'm', input: 'SLOW cross-node', background: true, stream: true });
    const iter = own[Symbol.asyncIterator]();
    const first = (await iter.next()).value;
    const id = first.response.id;
    const t0 = Date.now();
    const followers = [b, n3].map((node) => collect(node.client().responses.retrieve(id, { stream: true })));
    const mine = [first];
    for (let x = await iter.next(); !x.done; x = await iter.next()) mine.push(x.value);
    const theirs = await Promise.all(followers);
    const lag = Date.now() - t0;
    for (const events of theirs) {
      assert.deepEqual(events.map((e) => e.sequence_number), mine.map((e) => e.sequence_number));
      assert.deepEqual(events.map((e) => e.type), mine.map((e) => e.type));
      assert.equal(events.at(-1).type, 'response.completed');
      assert.equal(events.at(-1).response.output_text ?? events.at(-1).response.output[0].content[0].text,
                   mine.at(-1).response.output_text ?? mine.at(-1).response.output[0].content[0].text);
    }
    console.log(`# cross-node followers finished ${lag} ms after the stream started`);
    // Resumed by sequence number on another node, after the run ended (its events still shipped).
    const tail = await collect(b.client().responses.retrieve(id, { stream: true, starting_after: 5 }));
    assert.equal(tail[0].sequence_number, 6);
    assert.equal(tail.length, mine.length - 6);

    // A follower that joins mid-run, with starting_after, on a node that did not run it.
    const slow = await a.client().responses.create({ model: 'm', input: 'LONGSLOW midway', background: true });
    await sleep(600);
    const mid = await collect(n3.client().responses.retrieve(slow.id, { stream: true, starting_after: 2 }));
    assert.equal(mid[0].sequence_number, 3);
    for (let i = 1; i < mid.length; i++) assert.equal(mid[i].sequence_number, mid[i - 1].sequence_number + 1);
    assert.equal(mid.at(-1).type, 'response.completed');

    // Cancelled from a node that does not run it: the owner cancels it.
    const long = await a.client().responses.create({ model: 'm', input: 'LONGSLOW cancel me', background: true });
    await sleep(300);
    const cancelled = await b.client().responses.cancel(long.id);
    assert.equal(cancelled.status, 'cancelled');
    assert.equal((await a.client().responses.retrieve(long.id)).status, 'cancelled');
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('per-conversation concurrency holds across nodes: reject, enqueue and interrupt', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(2, upstream);
  try {
    const [a, b] = c.nodes;
    // reject: a turn on b while a runs one on the same conversation.
    const conv = await a.client().conversations.create({});
    const slow = a.client().responses.create({ model: 'm', input: 'SLOW first', conversation: conv.id });
    await sleep(300);
    await assert.rejects(b.client().responses.create({ model: 'm', input: 'second', conversation: conv.id }),
      (e) => e.status === 409 && e.code === 'conversation_busy');
    // enqueue: b's turn waits for a's, then sees it.
    const queued = await b.client().responses.create({ model: 'm', input: 'after you', conversation: conv.id, concurrency: 'enqueue' });
    assert.equal((await slow).status, 'completed');
    assert.equal(queued.status, 'completed');
    assert.match(said(upstream.last()), /SLOW first/);
    const items = await a.client().conversations.items.list(conv.id, { order: 'asc' });
    assert.deepEqual(items.data.filter((i) => i.role === 'user').map((i) => i.content[0].text), ['SLOW first', 'after you']);

    // interrupt: b's turn cancels the one running on a, then runs.
    const conv2 = await b.client().conversations.create({});
    const victim = a.client().responses.create({ model: 'm', input: 'LONGSLOW victim', conversation: conv2.id });
    await sleep(300);
    const urgent = await b.client().responses.create({ model: 'm', input: 'urgent', conversation: conv2.id, concurrency: 'interrupt' });
    assert.equal(urgent.status, 'completed');
    assert.equal((await victim).status, 'cancelled');

    // A chain tip running on a: b refuses a child, or waits for it.
    const parent = await a.client().responses.create({ model: 'm', input: 'SLOW parent', background: true });
    await assert.rejects(b.client().responses.create({ model: 'm', input: 'child', previous_response_id: parent.id }),
      (e) => e.status === 409 && e.code === 'conversation_busy');
    const child = await b.client().responses.create({ model: 'm', input: 'child', previous_response_id: parent.id, concurrency: 'enqueue' });
    assert.equal(child.status, 'completed');
    assert.equal((await a.client().responses.retrieve(parent.id)).status, 'completed');
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('memory written on one node is found by another node\'s search; a deletion on that node reaches the first', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(2, upstream);
  try {
    const [a, b] = c.nodes;
    const post = (node, p, body) => node.json(p, { method: 'POST', body: JSON.stringify(body) });
    const search = (node, query) => post(node, '/v1/memories/search', { query, filters: { user_id: 'ada' } });
    // Both nodes build their index for ada before the write, so b must learn of it from the feed.
    await post(a, '/v1/memories', { text: 'Ada rides a red bicycle', user_id: 'ada' });
    assert.match(JSON.stringify((await search(b, 'bicycle')).body), /red bicycle/);
    const m = await post(a, '/v1/memories', { text: 'Ada drinks green tea every morning', user_id: 'ada' });
    assert.equal(m.status, 200, JSON.stringify(m.body));
    const found = await search(b, 'green tea');
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.match(JSON.stringify(found.body), /green tea/);
    const del = await b.json(`/v1/memories/${m.body.id}`, { method: 'DELETE' });
    assert.equal(del.status, 200, JSON.stringify(del.body));
    assert.doesNotMatch(JSON.stringify((await search(a, 'green tea')).body), /green tea every morning/);
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('kill -9 of a node under load: what it acknowledged is served by the others, its runs are taken over', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(3, upstream);
  try {
    const [a, b, n3] = c.nodes;
    const acked = [];
    const load = Array.from({ length: 10 }, (_, i) =>
      a.client().responses.create({ model: 'm', input: `acknowledged ${i}` }).then((r) => acked.push(r), () => {}));
    const running = await Promise.all([0, 1, 2].map((i) => a.client().responses.create({ model: 'm', input: `LONGSLOW ${i}`, background: true })));
    await sleep(400);
    await a.kill9();
    const killedAt = Date.now();
    await Promise.all(load);
    assert.ok(acked.length > 0);
    let failover = 0;
    for (const r of running) {
      const { r: after } = await settled(b, r.id);
      failover = Math.max(failover, Date.now() - killedAt);
      assert.equal(after.status, 'failed');
      assert.match(after.error.message, /another node took it over/);
    }
    for (const r of acked) {
      const back = await n3.client().responses.retrieve(r.id);
      assert.equal(back.status, 'completed');
      assert.equal(back.output_text, r.output_text);
    }
    console.log(`# failover after kill -9: ${failover} ms (lease ${LEASE_MS} ms); ${acked.length} acknowledged responses all served`);
    // The survivors go on serving.
    assert.equal((await b.client().responses.create({ model: 'm', input: 'still here' })).status, 'completed');
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('a node paused past its lease is fenced when it resumes: it writes nothing and exits', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(2, upstream);
  try {
    const [a, b] = c.nodes;
    const r = await a.client().responses.create({ model: 'm', input: 'LONGSLOW fenced', background: true });
    await sleep(300);
    a.proc.kill('SIGSTOP');
    const { r: taken } = await settled(b, r.id);
    assert.equal(taken.status, 'failed');
    a.proc.kill('SIGCONT');
    assert.ok(await a.waitExit(15000), 'the fenced node exits');
    const { code } = await a.exited;
    assert.equal(code, 75);
    assert.match(a.log, /lost its lease/);
    // What the taker decided stands: the paused node's run did not overwrite it.
    const after = await b.client().responses.retrieve(r.id);
    assert.equal(after.status, 'failed');
    assert.match(after.error.message, /another node took it over/);
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('continuum migrate copies a SQLite data directory into PostgreSQL, verified, and a node serves it', { skip }, async () => {
  const upstream = await startFakeUpstream();
  // A SQLite node with a chain, a conversation and memories.
  const src = new Server({ upstream, store: '' });
  await src.start();
  const cl = src.client();
  const r1 = await cl.responses.create({ model: 'm', input: 'My name is Ada.' });
  const conv = await cl.conversations.create({ items: [{ type: 'message', role: 'user', content: 'seeded' }] });
  await cl.responses.create({ model: 'm', input: 'in the conversation', conversation: conv.id });
  const mem = await src.json('/v1/memories', { method: 'POST', body: JSON.stringify({ text: 'Ada likes green tea', user_id: 'ada' }) });
  assert.equal(mem.status, 200, JSON.stringify(mem.body));
  await src.stop();

  const db = pgDatabase(fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-migrate-')));
  try {
    const out = execFileSync(BIN, ['migrate', '--from', `sqlite:${src.dataDir}`, '--to', db.url]).toString();
    assert.match(out, /^verified: \d+ tables, \d+ rows$/m);
    assert.match(out, /^turns\t2\t[0-9a-f]{16}$/m);  // two responses
    // Into a database that already holds a store: refused.
    const again = spawnSync(BIN, ['migrate', '--from', `sqlite:${src.dataDir}`, '--to', db.url]);
    assert.equal(again.status, 1);
    assert.match(again.stderr.toString(), /already holds a Continuum store/);

    // A node on PostgreSQL, with the directory's key files, serves what was copied.
    const node = new Server({ upstream, store: db.url, dataDir: src.dataDir });
    await node.start();
    try {
      const c2 = node.client();
      const r2 = await c2.responses.create({ model: 'm', input: 'What is my name?', previous_response_id: r1.id });
      assert.equal(r2.status, 'completed');
      assert.match(said(upstream.last()), /My name is Ada\./);
      const items = await c2.conversations.items.list(conv.id);
      assert.equal(items.data.length, 3);
      const found = await node.json('/v1/memories/search', { method: 'POST', body: JSON.stringify({ query: 'green tea', filters: { user_id: 'ada' } }) });
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.match(JSON.stringify(found.body), /green tea/);
    } finally {
      await node.stop();
    }
  } finally {
    src.cleanup();
    dropPgDatabase(db);
    await upstream.close();
  }
});

test('configuration written on one node is in effect on the others at once: agents, policies, tool servers, webhooks', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(3, upstream, { CONTINUUM_WEBHOOKS_ALLOW_PRIVATE_URLS: '1' });
  try {
    const [a, b, n3] = c.nodes;
    const send = (node, p, body, method = 'POST') => node.json(p, { method, body: JSON.stringify(body) });
    const ask = (node, model) => send(node, '/v1/responses', { model, input: 'hello' });
    // An agent defined on a answers on b; a new version made on b is the latest on n3.
    assert.equal((await send(a, '/v1/agents', { name: 'clerk', model: 'm-clerk-1' })).status, 200);
    const t0 = Date.now();
    const r1 = await eventually('agent made on a, used on b', async () => { const r = await ask(b, 'agent:clerk'); return r.status === 200 && r; });
    const lag = Date.now() - t0;
    assert.ok(lag < 2000, `seen after ${lag} ms (the sweep is 10 s: a notification brought it)`);
    assert.deepEqual(r1.body.agent, { name: 'clerk', version: 1, requested: 'clerk' });
    assert.equal(upstream.last().body.model, 'm-clerk-1');
    assert.equal((await send(b, '/v1/agents', { name: 'clerk', model: 'm-clerk-2' })).body.version, 2);
    await eventually('version 2 is the latest on n3', async () => (await ask(n3, 'agent:clerk')).body.agent?.version === 2);
    assert.equal(upstream.last().body.model, 'm-clerk-2');
    // An alias moved on n3 is followed on a.
    assert.equal((await send(n3, '/v1/agents/clerk/aliases/prod', { version: 1 })).status, 200);
    await eventually('the alias moved on n3 is seen on a', async () => (await ask(a, 'agent:clerk@prod')).body.agent?.version === 1);

    // A policy set written on a is the one b shows, and replaced on b, the one a shows.
    const policy = (id) => `@id("${id}")\npermit (principal, action, resource);\n`;
    assert.equal((await send(a, '/v1/policies', { policies: policy('first') }, 'PUT')).status, 200);
    await eventually('the policy set written on a, on b', async () => JSON.stringify((await b.json('/v1/policies')).body).includes('first'));
    assert.equal((await send(b, '/v1/policies', { policies: policy('second') }, 'PUT')).status, 200);
    await eventually('the policy set replaced on b, on a', async () => JSON.stringify((await a.json('/v1/policies')).body).includes('second'));

    // A tool server registered on b is listed on n3; deleted on n3, it is gone on b.
    assert.equal((await send(b, '/v1/tool_servers', { label: 'kb', url: 'https://tools.example.com/mcp' })).status, 200);
    await eventually('the tool server, on n3', async () => (await n3.json('/v1/tool_servers')).body.data.some((t) => t.label === 'kb'));
    assert.equal((await n3.json('/v1/tool_servers/kb', { method: 'DELETE' })).status, 200);
    await eventually('the deletion, on b', async () => !(await b.json('/v1/tool_servers')).body.data.some((t) => t.label === 'kb'));

    // A webhook registered on n3 is listed on a.
    const hook = await send(n3, '/v1/webhooks', { url: 'http://127.0.0.1:9/hook', events: ['response.completed'] });
    assert.equal(hook.status, 200, JSON.stringify(hook.body));
    await eventually('the webhook, on a', async () => (await a.json(`/v1/webhooks/${hook.body.id}`)).status === 200);
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('a schedule runs once per slot, whichever of three nodes finds it due; webhooks are delivered once', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const got = [];
  const rx = http.createServer((req, res) => {
    req.resume();
    // Slow to answer: while one node's attempt is in flight, the others' dispatchers poll.
    req.on('end', () => { got.push(req.headers['webhook-id']); setTimeout(() => { res.writeHead(204); res.end(); }, 600); });
  });
  await new Promise((r) => rx.listen(0, '127.0.0.1', r));
  const c = await startCluster(3, upstream, { CONTINUUM_WEBHOOKS_ALLOW_PRIVATE_URLS: '1' });
  try {
    const [a, b, n3] = c.nodes;
    const send = (node, p, body) => node.json(p, { method: 'POST', body: JSON.stringify(body) });
    assert.equal((await send(a, '/v1/agents', { name: 'ticker', model: 'm-tick' })).status, 200);
    const hook = await send(b, '/v1/webhooks', { url: `http://127.0.0.1:${rx.address().port}/hook`, events: ['response.completed'], agent: 'ticker' });
    assert.equal(hook.status, 200, JSON.stringify(hook.body));
    await eventually('every node has the agent', async () => {
      for (const node of c.nodes) if ((await node.json('/v1/agents/ticker')).status !== 200) return false;
      return true;
    });
    const s = await send(n3, '/v1/schedules', { agent: 'ticker', every_seconds: 1, input: 'tick' });
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const ticks = () => upstream.requests.filter((q) => q.body.model === 'm-tick').length;
    await eventually('the first tick', async () => ticks() > 0);
    const t0 = Date.now();
    await sleep(5000);
    const n = ticks(), secs = (Date.now() - t0) / 1000;
    // One run a second: three nodes each firing every slot would make about three.
    assert.ok(n >= 3 && n <= secs + 2, `${n} runs in ${secs.toFixed(1)} s`);
    assert.equal((await a.json(`/v1/schedules/${s.body.id}`, { method: 'DELETE' })).status, 200);
    await sleep(1500);  // the deletion reaches every node; runs started meanwhile finish
    const final = ticks();
    await sleep(2000);
    assert.ok(ticks() <= final, 'no runs after the deletion, on any node');
    // Each run's webhook event was delivered once, though three dispatchers saw it due.
    await eventually('every event delivered', async () => got.length >= final, 20000);
    await sleep(1500);
    assert.equal(new Set(got).size, got.length, `duplicate deliveries: ${got.length} for ${new Set(got).size} events`);
    assert.equal(got.length, final);
  } finally {
    await c.stop();
    await upstream.close();
    await new Promise((r) => rx.close(r));
  }
});

test('steering input sent to another node reaches the run: accepted there, committed to a successor', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(2, upstream);
  try {
    const [a, b] = c.nodes;
    const own = await a.client().responses.create({ model: 'm', input: 'SLOW steered', background: true, stream: true });
    const iter = own[Symbol.asyncIterator]();
    const id = (await iter.next()).value.response.id;
    const ack = await b.json(`/v1/responses/${id}/steer`, { method: 'POST', body: JSON.stringify({ input: 'from node b' }) });
    assert.equal(ack.status, 200, JSON.stringify(ack.body));
    assert.equal(ack.body.status, 'queued');
    const seen = [];
    for (let e = await iter.next(); !e.done; e = await iter.next()) seen.push(e.value);
    const accepted = seen.find((e) => e.type === 'response.steer.accepted');
    assert.ok(accepted, 'the run on node a announced the input node b accepted');
    assert.equal(accepted.steer.id, ack.body.id);
    const st = await eventually('the input committed', async () => {
      const s = (await b.json(`/v1/responses/${id}/steers/${ack.body.id}`)).body;
      return s.status === 'committed' && s;
    });
    const succ = await eventually('the successor completed', async () => {
      const r = await b.client().responses.retrieve(st.successor_response_id).catch(() => null);
      return r?.status === 'completed' && r;
    });
    assert.equal(succ.previous_response_id, id);
    assert.equal(succ.output_text, 'echo: from node b');
    // Refusals cross nodes too: a finished response, an unknown one.
    const late = await b.json(`/v1/responses/${id}/steer`, { method: 'POST', body: JSON.stringify({ input: 'late' }) });
    assert.equal(late.status, 409);
    assert.equal(late.body.error.code, 'response_already_completed');
    assert.equal((await b.json('/v1/responses/resp_nope/steer', { method: 'POST', body: JSON.stringify({ input: 'x' }) })).status, 404);
  } finally {
    await c.stop();
    await upstream.close();
  }
});

test('a node that joins leaves the eval runs of the others alone: each item is graded once', { skip }, async () => {
  const upstream = await startFakeUpstream();
  const c = await startCluster(1, upstream);
  try {
    const client = c.nodes[0].client();
    const e = await client.evals.create({ data_source_config: { type: 'custom', item_schema: { type: 'object' } },
      testing_criteria: [{ type: 'string_check', name: 'slow', input: '{{sample.output_text}}', reference: 'w19', operation: 'like' }] });
    const content = Array.from({ length: 4 }, (_, i) => ({ item: { n: i } }));
    const ds = { type: 'completions', model: 'gpt-4o', input_messages: { type: 'template', template: [{ role: 'user', content: 'SLOW item {{item.n}}' }] }, source: { type: 'file_content', content } };
    const run = await client.evals.runs.create(e.id, { data_source: ds });
    await eventually('the run started', async () => upstream.requests.some((q) => said(q).includes('SLOW item')));
    const b = await c.add();  // starts (and recovers) while the run is in progress on the first node
    const done = await eventually('the run completed', async () => {
      const r = await b.client().evals.runs.retrieve(run.id, { eval_id: e.id });
      return r.status === 'completed' && r;
    }, 60000);
    assert.deepEqual(done.result_counts, { total: 4, passed: 4, failed: 0, errored: 0 });
    for (let i = 0; i < 4; i++)
      assert.equal(upstream.requests.filter((q) => said(q).includes(`SLOW item ${i}"`)).length, 1, `item ${i} sampled once`);
  } finally {
    await c.stop();
    await upstream.close();
  }
});
