// The code_interpreter tool: code the model writes runs in Continuum's bubblewrap sandbox,
// through the official openai SDK. Files persist across a conversation's turns; escape attempts
// (network, writes outside /work, reading the server's files, fork bombs, endless loops, memory,
// huge output) are contained and reported to the model as the call's logs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { withServer } from './harness.mjs';

const CONFIG = '[sandbox]\ncpu_seconds = 2\nwall_ms = 4000\nmemory_mib = 256\nmax_processes = 32\nmax_output_kib = 16\n';
function configFile(text = CONFIG) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cn-sbx-')), 'c.toml');
  fs.writeFileSync(file, text);
  return file;
}
const TOOL = { type: 'code_interpreter', container: { type: 'auto' } };
const withSandbox = (fn, text) => withServer({ args: ['--config', configFile(text)] }, fn);

// Runs `code` through the model's call and returns the call item and the whole response.
async function run(client, code, extra = {}, lang = 'PY') {
  const r = await client.responses.create({ model: 'm', input: `RUN_${lang}<<<${code}>>>`, tools: [TOOL], ...extra });
  const call = r.output.find((o) => o.type === 'code_interpreter_call');
  assert.ok(call, JSON.stringify(r.output));
  return { r, call, logs: call.outputs.map((o) => o.logs).join('') };
}

test('sandbox: the model runs Python; the call item carries code, container and logs; the model sees the output', async () => {
  await withSandbox(async ({ client, upstream }) => {
    const { r, call, logs } = await run(client, 'print(6*7)');
    assert.equal(r.status, 'completed');
    assert.deepEqual(r.output.map((o) => o.type), ['code_interpreter_call', 'message']);
    assert.equal(call.code, 'print(6*7)');
    assert.equal(call.status, 'completed');
    assert.match(call.container_id, /^cntr_/);
    assert.deepEqual(call.outputs, [{ type: 'logs', logs: '42\n' }]);
    assert.match(r.output_text, /tool said: 42/);
    // The model was offered the tool and got the logs back as the call's output.
    const sent = upstream.last().body;
    assert.equal(sent.messages.at(-1).role, 'tool');
    assert.equal(sent.messages.at(-1).content, '42\n');
    // Shell too; the item is stored and read back.
    const sh = await run(client, 'echo "shell $((2+3))"', {}, 'SH');
    assert.equal(sh.logs, 'shell 5\n');
    const back = await client.responses.retrieve(sh.r.id);
    assert.deepEqual(back.output[0].outputs, sh.call.outputs);
  });
});

test('sandbox: a conversation keeps its working directory across turns; another conversation cannot see it', async () => {
  await withSandbox(async ({ client }) => {
    const conv = await client.conversations.create({});
    const a = await run(client, "open('notes.txt','w').write('remember me')\nprint('saved')", { conversation: conv.id });
    assert.equal(a.logs, 'saved\n');
    const b = await run(client, "print(open('/work/notes.txt').read())", { conversation: conv.id });
    assert.equal(b.logs, 'remember me\n');
    assert.equal(a.call.container_id, b.call.container_id);
    const other = await client.conversations.create({});
    const c = await run(client, "import os\nprint(os.path.exists('notes.txt'))", { conversation: other.id });
    assert.equal(c.logs, 'False\n');
    // A named container outside a conversation is reused too.
    const n1 = await client.responses.create({ model: 'm', input: "RUN_SH<<<echo hi > f.txt>>>", tools: [{ type: 'code_interpreter', container: 'cntr_mine' }] });
    assert.equal(n1.output[0].container_id, 'cntr_mine');
    const n2 = await client.responses.create({ model: 'm', input: "RUN_SH<<<cat f.txt>>>", tools: [{ type: 'code_interpreter', container: 'cntr_mine' }] });
    assert.equal(n2.output[0].outputs[0].logs, 'hi\n');
  });
});

test('sandbox: escape attempts are contained and reported as the call\'s logs; the server keeps serving', async () => {
  await withSandbox(async ({ client, server, upstream }) => {
    const port = new URL(upstream.url).port;
    // No network: not even the loopback the server listens on.
    const net = await run(client, `import socket\ntry:\n    socket.create_connection(('127.0.0.1', ${port}), timeout=2)\n    print('CONNECTED')\nexcept OSError as e:\n    print('refused', type(e).__name__)`);
    assert.match(net.logs, /^refused /, net.logs);
    // The system is read-only; writes outside /work fail.
    const write = await run(client, "for p in ['/usr/evil', '/etc/evil', '/evil']:\n    try:\n        open(p, 'w').write('x'); print('WROTE', p)\n    except OSError as e:\n        print('denied', p)");
    assert.doesNotMatch(write.logs, /WROTE/);
    assert.equal((write.logs.match(/denied/g) || []).length, 3, write.logs);
    // The server's data directory, its environment and other processes are not visible.
    const peek = await run(client, `import os\nprint(os.path.exists(${JSON.stringify(server.dataDir)}))\nprint(sorted(k for k in os.environ if 'CONTINUUM' in k))\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]))`);
    const [exists, envs, procs] = peek.logs.trim().split('\n');
    assert.equal(exists, 'False');
    assert.equal(envs, '[]');
    assert.ok(Number(procs) <= 3, `only the sandbox's own processes: ${procs}`);
    // Namespaces and ptrace are refused by the seccomp filter.
    const sys = await run(client, "import os\ntry:\n    os.unshare(os.CLONE_NEWUSER); print('UNSHARED')\nexcept (OSError, AttributeError) as e:\n    print('blocked')");
    assert.equal(sys.logs, 'blocked\n');
    // A fork bomb meets the process limit.
    const bomb = await run(client, "import os, time\nn = 0\ntry:\n    for i in range(1000):\n        if os.fork() == 0:\n            time.sleep(3); os._exit(0)\n        n += 1\nexcept OSError:\n    print('limited', n)");
    const forked = Number((bomb.logs.match(/^limited (\d+)/) || [])[1]);
    assert.ok(forked > 0 && forked < 32, bomb.logs);
    const shellBomb = await run(client, 'f(){ f | f & }; f; sleep 1; echo done', {}, 'SH');
    assert.equal(shellBomb.call.status, 'completed');
    // An endless loop meets the CPU limit; the whole sandbox is killed.
    const t0 = Date.now();
    const loop = await run(client, 'while True: pass');
    assert.match(loop.logs, /killed/, loop.logs);
    assert.ok(Date.now() - t0 < 8000);
    // A sleeping process meets the wall limit.
    const sleeper = await run(client, 'sleep 60', {}, 'SH');
    assert.match(sleeper.logs, /time limit/, sleeper.logs);
    // Memory beyond the limit fails inside the sandbox.
    const mem = await run(client, "try:\n    b = bytearray(1 << 30); print('ALLOCATED')\nexcept MemoryError:\n    print('MemoryError')");
    assert.equal(mem.logs, 'MemoryError\n');
    // Huge output is cut at the output limit.
    const huge = await run(client, "print('x' * 10_000_000)");
    assert.ok(huge.logs.length < 17 * 1024, `cut: ${huge.logs.length}`);
    assert.match(huge.logs, /output cut/);
    // And the server still answers.
    const ok = await run(client, "print('still here')");
    assert.equal(ok.logs, 'still here\n');
  });
});

test('sandbox: streamed events parse in the official SDK; a bad container id is a 400', async () => {
  await withSandbox(async ({ client, server }) => {
    const stream = await client.responses.create({ model: 'm', input: "RUN_PY<<<print('streamed')>>>", tools: [TOOL], stream: true });
    const seen = [];
    let final;
    for await (const ev of stream) {
      seen.push(ev.type);
      if (ev.type === 'response.completed') final = ev.response;
    }
    for (const t of ['response.code_interpreter_call.in_progress', 'response.code_interpreter_call_code.done',
      'response.code_interpreter_call.interpreting', 'response.code_interpreter_call.completed'])
      assert.ok(seen.includes(t), `missing ${t} in ${seen.join(',')}`);
    assert.equal(final.output[0].outputs[0].logs, 'streamed\n');
    const bad = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x', tools: [{ type: 'code_interpreter', container: '../../etc' }] }) });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, 'tools.container');
  });
});

test('sandbox: disabled by configuration, the tool type is refused with a 400', async () => {
  await withSandbox(async ({ server }) => {
    const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'x', tools: [TOOL] }) });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /code_interpreter/);
  }, '[sandbox]\nenabled = false\n');
});
