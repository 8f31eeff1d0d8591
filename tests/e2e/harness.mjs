// Starts the real continuum binary against a fake upstream, in a fresh data directory.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import OpenAI from 'openai';
import { startFakeUpstream } from './fake-upstream.mjs';

export const BIN = process.env.CONTINUUM_BIN || path.resolve(import.meta.dirname, '../../build/continuum');
export const KEY = 'ck_test_key_for_e2e_0001';

// With CONTINUUM_TEST_PG (a PostgreSQL URL; `make test` sets it for its second pass), every server
// stores into a database of its own on that cluster, named after its data directory, instead of
// SQLite: the whole suite then runs against the PostgreSQL backend.
export const PG = process.env.CONTINUUM_TEST_PG || '';
export function pgDatabase(dataDir) {
  if (!PG) return null;
  const name = 'e2e_' + path.basename(dataDir).toLowerCase().replace(/[^a-z0-9_]/g, '_');
  try {
    execFileSync('psql', [PG, '-q', '-c', `CREATE DATABASE ${name}`], { stdio: 'pipe' });
  } catch (e) {
    if (!/already exists/.test(String(e.stderr))) throw e;
  }
  const u = new URL(PG);
  u.pathname = '/' + name;
  return { name, url: u.toString() };
}
export function dropPgDatabase(db) {
  if (db) execFileSync('psql', [PG, '-q', '-c', `DROP DATABASE IF EXISTS ${db.name} WITH (FORCE)`], { stdio: 'pipe' });
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export class Server {
  constructor(opts = {}) {
    this.opts = opts;
    this.dataDir = opts.dataDir || fs.mkdtempSync(path.join(os.tmpdir(), 'continuum-e2e-'));
    this.pg = opts.store === undefined ? pgDatabase(this.dataDir) : null;
    this.storeArgs = opts.store ? ['--store', opts.store] : this.pg ? ['--store', this.pg.url] : [];
    this.log = '';
  }
  async start() {
    this.port = this.port || (await freePort());
    this.base = `http://127.0.0.1:${this.port}`;
    const env = { ...process.env, CONTINUUM_API_KEY: KEY, ...(this.opts.env || {}) };
    if (this.opts.upstream) env.CONTINUUM_UPSTREAM_URL = this.opts.upstream.url;
    const args = ['serve', '--listen', `127.0.0.1:${this.port}`, '--data', this.dataDir, ...this.storeArgs, ...(this.opts.args || [])];
    // `prefix` runs the server under another command (e.g. prlimit).
    const prefix = this.opts.prefix || [];
    this.proc = prefix.length
      ? spawn(prefix[0], [...prefix.slice(1), BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout.on('data', (d) => (this.log += d));
    this.proc.stderr.on('data', (d) => (this.log += d));
    this.exited = new Promise((r) => this.proc.on('exit', (code, sig) => r({ code, sig })));
    // CONTINUUM_TEST_LOGS=FILE keeps every server's log, appended when it exits.
    if (process.env.CONTINUUM_TEST_LOGS)
      this.exited.then(({ code, sig }) => fs.appendFileSync(process.env.CONTINUUM_TEST_LOGS, `=== ${this.dataDir} exit ${code} ${sig}\n${this.log}\n`));
    let gone = false;
    this.exited.then(() => (gone = true));
    for (let i = 0; i < 400 && !gone; i++) {
      try {
        const r = await fetch(`${this.base}/healthz`);
        if (r.ok) {
          // The server writes its log behind its work: wait (briefly) for its start-up lines.
          for (let j = 0; j < 40 && !this.log.includes(' listening on '); j++) await new Promise((r) => setTimeout(r, 25));
          return this;
        }
      } catch {}
      await new Promise((r) => setTimeout(r, 25));
    }
    // A server that refused to start must also have exited; one that neither starts nor exits
    // is killed, so that no test file is kept alive by it.
    if (!(await this.waitExit(10000))) {
      await this.kill9();
      throw new Error('server neither started nor exited:\n' + this.log);
    }
    throw new Error('server did not start:\n' + this.log);
  }
  // Waits (up to `ms`) until the server's log matches `re`: it writes its log behind its work.
  async waitLog(re, ms = 3000) {
    for (let i = 0; i < ms / 20 && !re.test(this.log); i++) await new Promise((r) => setTimeout(r, 20));
  }
  // Resolves true once the process has exited, false if it is still running after `ms`.
  async waitExit(ms) {
    let timer;
    const late = new Promise((r) => (timer = setTimeout(() => r(false), ms)));
    const done = await Promise.race([this.exited.then(() => true), late]);
    clearTimeout(timer);
    return done;
  }
  client(key = KEY) {
    return new OpenAI({ apiKey: key, baseURL: `${this.base}/v1`, maxRetries: 0 });
  }
  async fetch(p, init = {}) {
    const headers = { authorization: `Bearer ${init.key || KEY}`, 'content-type': 'application/json', ...(init.headers || {}) };
    return fetch(this.base + p, { ...init, headers });
  }
  async json(p, init = {}) {
    const r = await this.fetch(p, init);
    const text = await r.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    return { status: r.status, body, headers: r.headers };
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    this.proc.kill('SIGTERM');
    if (await this.waitExit(30000)) return this.exited;
    await this.kill9();
    throw new Error('server did not exit within 30 s of SIGTERM:\n' + this.log.slice(-4000));
  }
  async kill9() {
    this.proc.kill('SIGKILL');
    return this.exited;
  }
  createKey(project) {
    const out = execFileSync(BIN, ['keys', 'create', '--project', project, '--data', this.dataDir, ...this.storeArgs]).toString();
    return out.trim().split('\n').pop().trim();
  }
  // Runs SQL against the server's store (SQLite's file, or its PostgreSQL database) from outside,
  // as an operator would; returns one line per row, columns separated by '|'.
  sql(query) {
    const out = this.pg
      ? execFileSync('psql', [this.pg.url, '-qAt', '-c', query])
      : execFileSync('sqlite3', [path.join(this.dataDir, 'continuum.db'), query]);
    return out.toString().trim().split('\n').filter((l) => l !== '');
  }
  cleanup() {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    if (this.pg) dropPgDatabase(this.pg);
  }
}

export async function withServer(opts, fn) {
  const upstream = opts.upstream === false ? null : await startFakeUpstream();
  const server = new Server({ ...opts, upstream });
  await server.start();
  try {
    return await fn({ server, upstream, client: server.client() });
  } finally {
    await server.stop();
    if (upstream) await upstream.close();
    server.cleanup();
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until at least `n` memory jobs exist and none is pending or running; returns them.
export async function jobsSettled(server, n = 1) {
  for (let i = 0; i < 200; i++) {
    const jobs = (await server.json('/v1/memory/jobs?limit=100')).body.data;
    if (jobs.length >= n && jobs.every((j) => j.status === 'done' || j.status === 'failed')) return jobs;
    await sleep(50);
  }
  throw new Error('memory jobs did not settle');
}

// Parses an SSE body into [{event, data}].
export function parseSSE(text) {
  return text.split('\n\n').filter((b) => b.trim() && !b.startsWith(':')).map((block) => {
    const ev = {};
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
    }
    return ev;
  }).filter((e) => e.data);
}
