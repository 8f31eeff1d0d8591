// Local MCP servers over stdio ([[mcp.stdio]] in the configuration): Continuum spawns the
// official SDK's stdio server, lists and calls its tools inside a run, starts it again when it
// dies, keeps the server's own environment from it, and offers it only to the projects listed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withServer, sleep } from './harness.mjs';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/mcp-stdio-server.mjs');

function setup() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cn-stdio-'));
  const calls = path.join(dir, 'calls.jsonl');
  const config = path.join(dir, 'c.toml');
  fs.writeFileSync(config, `[[mcp.stdio]]
label = "local"
command = "node"
args = [${JSON.stringify(FIXTURE)}]
env = { CALLS_FILE = ${JSON.stringify(calls)}, FIXTURE_TOKEN = "t0k" }

[[mcp.stdio]]
label = "elsewhere"
command = "node"
args = [${JSON.stringify(FIXTURE)}]
projects = ["proj_someone_else"]
`);
  const read = () => (fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
  return { config, read };
}
const tool = { type: 'mcp', server_label: 'local', require_approval: 'never' };

test('mcp stdio: a configured local server is spawned, listed and called inside the run', async () => {
  const { config, read } = setup();
  await withServer({ args: ['--config', config] }, async ({ client, upstream }) => {
    const r = await client.responses.create({ model: 'm', input: 'MCP_CALL add {"a":2,"b":40}', tools: [tool] });
    assert.equal(r.status, 'completed', JSON.stringify(r.output));
    assert.deepEqual(r.output.map((o) => o.type), ['mcp_list_tools', 'mcp_call', 'message']);
    assert.deepEqual(r.output[0].tools.map((t) => t.name).sort(), ['add', 'crash', 'pid', 'secret_env']);
    assert.deepEqual(JSON.parse(r.output[1].output), { sum: 42 });
    assert.deepEqual(read().map((c) => [c.name, c.args]), [['add', { a: 2, b: 40 }]]);
    assert.equal(upstream.last().body.messages.at(-1).content, '{"sum":42}');
    // Its environment is the configured one, not the server's (no CONTINUUM_* secrets).
    const env = await client.responses.create({ model: 'm', input: 'MCP_CALL secret_env {}', tools: [tool] });
    assert.equal(env.output.find((o) => o.type === 'mcp_call').output, 'keys:|token:t0k');
  });
});

test('mcp stdio: a server that dies is started again and initialized anew', async () => {
  const { config, read } = setup();
  await withServer({ args: ['--config', config] }, async ({ client }) => {
    const a = await client.responses.create({ model: 'm', input: 'MCP_CALL pid {}', tools: [tool] });
    const pid1 = a.output.find((o) => o.type === 'mcp_call').output;
    assert.match(pid1, /^pid \d+$/);
    const c = await client.responses.create({ model: 'm', input: 'MCP_CALL crash {}', tools: [tool] });
    const crashed = c.output.find((o) => o.type === 'mcp_call');
    assert.match(crashed.error, /exited/, JSON.stringify(crashed));
    await sleep(1100);  // restarts are at most once a second
    const b = await client.responses.create({ model: 'm', input: 'MCP_CALL pid {}', tools: [tool] });
    const pid2 = b.output.find((o) => o.type === 'mcp_call').output;
    assert.match(pid2, /^pid \d+$/, JSON.stringify(b.output));
    assert.notEqual(pid1, pid2);
    assert.equal(read().filter((x) => x.name === 'pid').length, 2);
  });
});

test('mcp stdio: a server configured for other projects is not offered', async () => {
  const { config } = setup();
  await withServer({ args: ['--config', config] }, async ({ server }) => {
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x',
      tools: [{ type: 'mcp', server_label: 'elsewhere', require_approval: 'never' }] }) });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'tools.server_label');
  });
});
