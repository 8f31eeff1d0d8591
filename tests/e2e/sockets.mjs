// WebSocket helpers of the e2e suites: an event collector and a raw `ws` client on /v1/responses.
import WebSocket from 'ws';
import { KEY } from './harness.mjs';

// Collects events given to the callback `on` registers; `until(pred)` resolves with the first
// event that matches (already collected or still to come), or fails after `ms`.
export function collector(on) {
  const events = [];
  const waiters = [];
  on((ev) => {
    events.push(ev);
    for (const w of [...waiters]) if (w.pred(ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(ev); }
  });
  return {
    events,
    until: (pred, ms = 15000) => new Promise((resolve, reject) => {
      const found = events.find(pred);
      if (found) return resolve(found);
      const t = setTimeout(() => reject(new Error('timed out; events: ' + events.map((e) => e.type).join())), ms);
      waiters.push({ pred, resolve: (v) => { clearTimeout(t); resolve(v); } });
    }),
  };
}

// An open socket on the server's /v1/responses with `key`: { ws, send(obj), events, until }.
export function rawSocket(server, key = KEY) {
  const ws = new WebSocket(server.base.replace('http', 'ws') + '/v1/responses', { headers: { authorization: `Bearer ${key}` } });
  const c = collector((f) => ws.on('message', (d) => f(JSON.parse(String(d)))));
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ ws, send: (o) => ws.send(JSON.stringify(o)), ...c }));
    ws.on('error', reject);
  });
}
