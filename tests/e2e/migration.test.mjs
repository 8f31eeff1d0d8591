// A database written by the previous storage format (runtime schema v1: responses, items,
// response_items, conversation_items; the fixture is a real database's dump) opens, migrates to
// one row per turn, and serves everything it held: chains through a deleted turn, conversations,
// background event logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { withServer, PG } from './harness.mjs';

const R1 = 'resp_0VcqZdjjNoDGAYUcnJ7NL4wq4UMujBm3';  // "My name is Ada." (deleted, continued by R2 and R4)
const R2 = 'resp_0VcqZdp9TlM1kB79wf0XeclJP1rzLqax';  // "I live in Paris."
const C = 'conv_0VcqZduiGQ8MvWn0ysu7CjcvxqhpZRIl';   // seeded item + one turn
const R4 = 'resp_0VcqZe5okQmOfEKIW35ajaKPd4nycGUJ';  // background branch from R1

function v1DataDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-v1-'));
  const sql = fs.readFileSync(path.join(import.meta.dirname, 'fixtures', 'v1.sql'));
  execFileSync('sqlite3', [path.join(dir, 'continuum.db')], { input: sql });
  return dir;
}

// A v1 SQLite file, as an older release left it (on PostgreSQL, cluster.test.mjs copies it with `continuum migrate`).
test('a v1 database migrates at start-up and serves what it held', { skip: PG ? 'SQLite only' : false }, async () => {
  await withServer({ dataDir: v1DataDir() }, async ({ client, server }) => {
    const r2 = await client.responses.retrieve(R2);
    assert.equal(r2.status, 'completed');
    assert.equal(r2.previous_response_id, R1);
    assert.match(r2.output_text, /Your first message was: "My name is Ada."/);
    // The deleted turn stays gone, but still carries its children's context.
    await assert.rejects(client.responses.retrieve(R1), (e) => e.status === 404);
    const inputs = await client.responses.inputItems.list(R2, { order: 'asc' });
    assert.deepEqual(inputs.data.filter((i) => i.role === 'user').map((i) => i.content[0].text), ['My name is Ada.', 'I live in Paris.']);
    const next = await client.responses.create({ model: 'continuum-local', input: 'And now?', previous_response_id: R2 });
    assert.match(next.output_text, /I have 5 messages of context/);

    const conv = await client.conversations.retrieve(C);
    assert.deepEqual(conv.metadata, { topic: 'v1' });
    const items = await client.conversations.items.list(C, { order: 'asc' });
    assert.deepEqual(items.data.map((i) => i.role), ['user', 'user', 'assistant']);
    assert.equal(items.data[0].content[0].text, 'seeded item');
    await client.responses.create({ model: 'continuum-local', input: 'more', conversation: C });
    assert.equal((await client.conversations.items.list(C)).data.length, 5);

    const bg = await client.responses.retrieve(R4);
    assert.equal(bg.status, 'completed');
    assert.equal(bg.background, true);
    const replay = await server.fetch(`/v1/responses/${R4}?stream=true`);
    const text = await replay.text();
    assert.match(text, /event: response.completed/);

    await server.stop();
    const tables = execFileSync('sqlite3', [path.join(server.dataDir, 'continuum.db'), "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"]).toString();
    assert.match(tables, /^turns$/m);
    assert.doesNotMatch(tables, /^(responses|items|response_items|conversation_items)$/m);
    await server.start();
    assert.equal((await client.responses.retrieve(R2)).id, R2);
  });
});
