// Descriptor exhaustion under prlimit: the server raises its soft limit, derives its connection
// cap from it, and — when descriptors do run out — pauses accepting instead of spinning, with
// one log line per second at most.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server, sleep } from '../e2e/harness.mjs';
import { cpuSeconds, report, tomlConfig } from './lib.mjs';

function openIdle(port, n) {
  const socks = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
  }
  return socks;
}

test('the soft open-files limit is raised to the hard one and the connection cap derived from it', async () => {
  const server = new Server({ upstream: null, prefix: ['prlimit', '--nofile=256:4096', '--'] });
  await server.start();
  try {
    assert.match(server.log, /(\d+) connections \((\d+) of 4096 open files reserved\)/);
    const [, cap, reserved] = server.log.match(/(\d+) connections \((\d+) of 4096 open files reserved\)/);
    assert.equal(Number(cap) + Number(reserved), 4096);
    const limits = fs.readFileSync(`/proc/${server.proc.pid}/limits`, 'utf8');
    assert.match(limits, /Max open files\s+4096\s+4096/);
  } finally {
    await server.stop();
    server.cleanup();
  }
});

test('out of descriptors, the listener pauses: little CPU, a quiet log, and service after', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-chaos-'));
  // A connection cap above what the descriptors allow, so that accept() does run out.
  const config = tomlConfig(dataDir, '[limits]\nmax_connections = 1000\n');
  const server = new Server({ upstream: null, dataDir, args: ['--config', config], prefix: ['prlimit', '--nofile=256:256', '--'] });
  await server.start();
  const pid = server.proc.pid;
  let socks = [];
  try {
    socks = openIdle(server.port, 400);
    await sleep(1500);
    const logBefore = server.log.length;
    const cpu0 = cpuSeconds(pid);
    const t0 = Date.now();
    await sleep(3000);
    const cpuShare = (cpuSeconds(pid) - cpu0) / ((Date.now() - t0) / 1000);
    const logLines = server.log.slice(logBefore).split('\n').filter((l) => /accept failed/.test(l)).length;
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    assert.ok(fds >= 250, `only ${fds} descriptors open: the limit was not reached`);
    assert.ok(cpuShare < 0.1, `the server used ${(cpuShare * 100).toFixed(1)}% of a core while out of descriptors`);
    assert.ok(logLines <= 4, `${logLines} 'accept failed' lines in 3 s`);
    for (const s of socks) s.destroy();
    socks = [];
    // Once the idle connections go, the server serves again.
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) {
      try {
        ok = (await fetch(`${server.base}/healthz`)).status === 200;
      } catch {
        await sleep(100);
      }
    }
    assert.ok(ok, 'the server did not serve again');
    const metrics = await (await server.fetch('/metrics')).text();
    const pauses = Number(metrics.match(/^continuum_accept_pauses (\S+)/m)[1]);
    assert.ok(pauses > 0, 'accepting never paused');
    report('descriptor exhaustion', [
      `soft = hard = 256 open files, 400 idle connections: ${fds} descriptors open`,
      `server CPU while exhausted: ${(cpuShare * 100).toFixed(2)}% of a core; ${logLines} 'accept failed' lines in 3 s; ${pauses} accept pauses`,
    ]);
  } finally {
    for (const s of socks) s.destroy();
    await server.stop();
    server.cleanup();
  }
});
