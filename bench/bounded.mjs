// Memory given back after abuse, per allocator setting, in one run: the same load (200 KB turns:
// plain, streamed, abandoned streams) against the server started with each MALLOC_CONF in turn
// (the binary's own jemalloc defaults first), and its RSS idle, at peak, and 1 s / 10 s after;
// then 45 s after, once idle expiry (storage.cache_idle_seconds, 30 s) has dropped the caches.
//   node bench/bounded.mjs [turns]      (CONTINUUM_BIN: the binary; default build/continuum)
import { Server, sleep, parseSSE } from '../tests/e2e/harness.mjs';
import { startFakeUpstream } from '../tests/e2e/fake-upstream.mjs';
import { randomText, rssMiB, tomlConfig } from '../tests/chaos/lib.mjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const TURNS = Number(process.argv[2] || 240);
const SMALL = '[storage]\nchain_cache_bytes = 8388608\nrun_events_bytes = 4194304\nconversation_cache_bytes = 4194304\n';
const NO_IDLE = '[storage]\ncache_idle_seconds = 0\n';
const SETTINGS = [
  ['built-in: background_thread, dirty_decay 1 s, muzzy 0', '', ''],
  ['no background thread (decay only on allocation)', 'background_thread:false', ''],
  ['huge pages (thp:always, metadata_thp:always)', 'thp:always,metadata_thp:always', ''],
  ['built-in allocator, cache budgets 8 + 4 + 4 MiB', '', SMALL],
  ['built-in allocator, idle expiry off', '', NO_IDLE],
];

async function load(server) {
  const worker = async (w) => {
    for (let i = w; i < TURNS; i += 8) {
      const body = { model: 'gpt-4o-mini', input: randomText(200_000) };
      if (i % 3 === 0) {
        await (await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify(body) })).text();
      } else if (i % 3 === 1) {
        parseSSE(await (await server.fetch('/v1/responses', { method: 'POST', body: JSON.stringify({ ...body, stream: true }) })).text());
      } else {
        const ac = new AbortController();
        const r = await server.fetch('/v1/responses', { method: 'POST', signal: ac.signal, body: JSON.stringify({ ...body, stream: true }) });
        await r.body.getReader().read();
        ac.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
}

console.log(`| allocator setting | idle MiB | peak MiB | 1 s after | 10 s after | 45 s after | 10 s / idle | 45 s / idle |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const [name, conf, config] of SETTINGS) {
  const up = await startFakeUpstream();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-bench-'));
  const args = config ? ['--config', tomlConfig(dataDir, config)] : [];
  const server = new Server({ upstream: up, dataDir, args, env: conf ? { MALLOC_CONF: conf } : {} });
  await server.start();
  const pid = server.proc.pid;
  await sleep(500);
  const idle = rssMiB(pid);
  let peak = idle;
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 50);
  await load(server);
  clearInterval(timer);
  await sleep(1000);
  const a1 = rssMiB(pid);
  await sleep(9000);
  const a10 = rssMiB(pid);
  await sleep(35000);
  const a45 = rssMiB(pid);
  console.log(`| ${name} | ${idle.toFixed(0)} | ${peak.toFixed(0)} | ${a1.toFixed(0)} | ${a10.toFixed(0)} | ${a45.toFixed(0)} |` +
              ` ${(a10 / idle).toFixed(1)}x | ${(a45 / idle).toFixed(1)}x |`);
  await server.stop();
  await up.close();
  server.cleanup();
}
