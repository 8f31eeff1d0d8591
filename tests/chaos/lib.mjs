// Shared by the chaos suite: the scale (CHAOS_SCALE: 1 in `make test`, more under `make soak`),
// readings of the server process from /proc, percentiles, random text, and the soak report.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { Server } from '../e2e/harness.mjs';
import { startFakeUpstream } from '../e2e/fake-upstream.mjs';

export const SCALE = Math.max(1, Number(process.env.CHAOS_SCALE || 1));

// Resident memory of a process, in MiB.
export function rssMiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return Number(m[1]) / 1024;
}

// CPU seconds (user + system) a process has used.
export function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;  // utime, stime in clock ticks (100 Hz)
}

export function percentile(values, p) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

// Text that does not compress (the store compresses turns): `bytes` of base64.
export function randomText(bytes) {
  return crypto.randomBytes(Math.ceil((bytes * 3) / 4)).toString('base64').slice(0, bytes);
}

// Appends a section to the soak report (CHAOS_REPORT names the file; nothing when unset).
export function report(title, lines) {
  const file = process.env.CHAOS_REPORT;
  const text = `\n## ${title}\n\n${lines.map((l) => `- ${l}`).join('\n')}\n`;
  console.log(text);
  if (file) fs.appendFileSync(path.resolve(file), text);
}

export function tomlConfig(dir, text) {
  const file = path.join(dir, 'chaos.toml');
  fs.writeFileSync(file, text);
  return file;
}

// A server with a recording fake upstream, in a fresh data directory, with `config` (TOML text)
// when given.
// The fake upstream in a child process (upstream-process.mjs): { url, close() }.
export async function startUpstreamProcess() {
  // CHAOS_UPSTREAM_CPUS (a taskset list) pins it apart from the client.
  const script = new URL('./upstream-process.mjs', import.meta.url).pathname;
  const cpus = process.env.CHAOS_UPSTREAM_CPUS;
  const [cmd, ...argv] = cpus ? ['taskset', '-c', cpus, process.execPath, script] : [process.execPath, script];
  const child = spawn(cmd, argv, {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`the upstream process exited (${code})`)));
  });
  return {
    url,
    close: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.on('exit', resolve);
      child.stdin.end();
    }),
  };
}

// A server with `config` (TOML text or null) against a fake upstream — in this process, or in
// its own when `separateUpstream`.
export async function startWithConfig(config, { separateUpstream = false } = {}) {
  const up = separateUpstream ? await startUpstreamProcess() : await startFakeUpstream();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-chaos-'));
  // CHAOS_SERVER_CPUS (a taskset list, e.g. "1") pins the server apart from the load.
  const prefix = process.env.CHAOS_SERVER_CPUS ? ['taskset', '-c', process.env.CHAOS_SERVER_CPUS] : [];
  const server = new Server({ upstream: up, dataDir, prefix, args: config ? ['--config', tomlConfig(dataDir, config)] : [] });
  await server.start();
  return { up, server };
}
