// The Continuum console: a single page over the server's own API, signed in with an API key
// kept in session storage. Every value from the API is placed as text (never as HTML).
'use strict';

const state = { key: sessionStorage.getItem('continuum.key') || '', timer: null, stream: null };

// h('tag', {attr: value, onclick: fn}, children...): builds an element; strings become text.
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}
const when = (t) => (t ? new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19) : '');
const badge = (s) => h('span', { class: 'status ' + s }, s);
const view = () => document.getElementById('view');

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path, init = {}) {
  const r = await fetch(path, { ...init, headers: { authorization: 'Bearer ' + state.key, ...(init.headers || {}) } });
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = text; }
  if (!r.ok) throw new ApiError(r.status, body);
  return body;
}

function table(columns, rows, onpick) {
  return h('table', {},
    h('thead', {}, h('tr', {}, columns.map(([label]) => h('th', {}, label)))),
    h('tbody', {}, rows.map((row) => h('tr', { class: onpick ? 'clickable' : null, onclick: onpick ? () => onpick(row) : null },
      columns.map(([, cell]) => h('td', {}, cell(row)))))));
}

function show(...nodes) {
  stopLive();
  view().replaceChildren(...nodes);
}
function failure(e) {
  if (e.status === 401) return signOut('Your key was refused: ' + e.message);
  show(h('p', { class: 'error', role: 'alert' }, e.message));
}
function stopLive() {
  clearInterval(state.timer);
  state.timer = null;
  if (state.stream) state.stream.abort();
  state.stream = null;
}

// ---- Agents: definitions, versions, aliases.
async function agentsView() {
  const list = await api('/v1/agents');
  show(h('h2', {}, 'Agents'),
    list.data.length ? table([
      ['Name', (a) => a.name], ['Latest', (a) => 'v' + a.latest_version], ['Model', (a) => a.definition.model],
      ['Aliases', (a) => Object.entries(a.aliases).map(([k, v]) => `${k} → v${v}`).join(', ')],
      ['Source', (a) => a.source], ['Created', (a) => when(a.created_at)],
    ], list.data, (a) => agentView(a.name)) : h('p', { class: 'muted' }, 'No agents yet.'));
}

// Online evaluation: a bar per agent version, its rolling pass rate (and how many runs graded).
function onlineChart(online) {
  const ns = 'http://www.w3.org/2000/svg';
  const W = 640, H = 120, bw = 48;
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', W);
  svg.setAttribute('height', H + 34);
  svg.setAttribute('id', 'online-eval-chart');
  online.versions.forEach((v, i) => {
    const x = i * (bw + 24), hh = v.pass_rate * H;
    const rect = document.createElementNS(ns, 'rect');
    Object.entries({ class: v.below_threshold ? 'below' : 'pass', x, y: H - hh, width: bw, height: Math.max(hh, 1) }).forEach(([k, val]) => rect.setAttribute(k, val));
    svg.append(rect);
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', x);
    t.setAttribute('y', H + 14);
    t.textContent = `v${v.version} ${Math.round(v.pass_rate * 100)}%`;
    const n = document.createElementNS(ns, 'text');
    n.setAttribute('x', x);
    n.setAttribute('y', H + 28);
    n.textContent = `${v.graded} graded`;
    svg.append(t, n);
  });
  const bar = online.min_pass_rate === null ? '' : `; bar ${Math.round(online.min_pass_rate * 100)}%`;
  return h('div', { class: 'panel' }, h('p', { class: 'muted' }, `Online evaluation (${online.eval_id}): pass rate of each version's last ${online.window} graded runs${bar}; sampling ${Math.round(online.sampling_rate * 100)}% of runs.`), svg);
}

async function agentView(name) {
  const path = `/v1/agents/${encodeURIComponent(name)}`;
  const [agent, versions, online] = await Promise.all([api(path), api(`${path}/versions`), api(`${path}/online_eval`).catch(() => null)]);
  show(h('h2', {}, `Agent ${name}`),
    h('div', { class: 'panel' }, h('p', {}, 'Aliases: ', Object.entries(agent.aliases).map(([k, v]) => `${k} → v${v}`).join(', ') || 'none'),
      h('pre', {}, JSON.stringify(agent.definition, null, 2))),
    online ? onlineChart(online) : h('p', { class: 'muted' }, 'No online evaluation.'),
    h('h3', {}, 'Versions'),
    table([['Version', (v) => 'v' + v.version], ['Model', (v) => v.definition.model], ['Instructions', (v) => (v.definition.instructions || '').slice(0, 120)],
      ['Source', (v) => v.source], ['Created', (v) => when(v.created_at)]], versions.data));
}

// ---- Runs: recent and live responses; one run's items and live events.
function runColumns() {
  return [['Response', (r) => r.id], ['Status', (r) => badge(r.status)], ['Agent', (r) => (r.agent ? `${r.agent.name} v${r.agent.version}` : '')],
    ['Model', (r) => r.model], ['User', (r) => r.user || r.safety_identifier || ''],
    ['Tokens', (r) => (r.usage ? `${r.usage.input_tokens} / ${r.usage.output_tokens}` : '')], ['Created', (r) => when(r.created_at)]];
}

async function runsView() {
  const draw = async () => {
    const list = await api('/v1/responses?limit=50');
    const t = table(runColumns(), list.data, (r) => runView(r.id));
    const old = document.getElementById('runs-table');
    t.id = 'runs-table';
    if (old) old.replaceWith(t);
    return t;
  };
  show(h('h2', {}, 'Runs'), h('p', { class: 'muted' }, 'Newest first; runs in progress on top. Refreshed every 2 s.'), await draw());
  state.timer = setInterval(() => draw().catch(() => {}), 2000);
}

function itemRow(it) {
  const tool = it.type !== 'message' && it.type !== 'reasoning';
  const detail = [];
  if (it.type === 'message') detail.push(h('pre', {}, (it.content || []).map((c) => c.text || c.refusal || '').join('')));
  if (tool) {
    detail.push(h('div', {}, h('b', {}, it.name || it.server_label || it.agent || ''), ' ', it.arguments ? h('pre', {}, it.arguments) : ''));
    if (it.output) detail.push(h('pre', {}, typeof it.output === 'string' ? it.output : JSON.stringify(it.output)));
    if (it.error) detail.push(h('p', { class: 'error' }, 'Error (policy or tool): ' + (typeof it.error === 'string' ? it.error : JSON.stringify(it.error))));
  }
  return h('tr', { class: 'item' }, h('td', {}, it.type), h('td', {}, it.status ? badge(it.status) : ''), h('td', {}, detail));
}

async function runView(id) {
  const r = await api(`/v1/responses/${encodeURIComponent(id)}`);
  const events = h('div', { class: 'events', id: 'events' });
  show(h('h2', {}, `Run ${id}`),
    h('div', { class: 'panel' }, h('p', {}, 'Status: ', badge(r.status), r.agent ? `  Agent: ${r.agent.name} v${r.agent.version}` : '', `  Model: ${r.model}`),
      r.previous_response_id ? h('p', {}, 'Previous: ', h('a', { href: '#', onclick: (e) => { e.preventDefault(); go(() => runView(r.previous_response_id)); } }, r.previous_response_id)) : '',
      r.parent_response_id ? h('p', {}, 'Parent run: ', h('a', { href: '#', onclick: (e) => { e.preventDefault(); go(() => runView(r.parent_response_id)); } }, r.parent_response_id)) : '',
      r.error ? h('p', { class: 'error' }, `${r.error.code}: ${r.error.message}`) : ''),
    h('h3', {}, 'Items and tool calls'),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Type'), h('th', {}, 'Status'), h('th', {}, 'Detail'))), h('tbody', { id: 'items' }, (r.output || []).map(itemRow))),
    h('h3', {}, 'Events'), events);
  followEvents(id, events, r.status === 'in_progress' || r.status === 'queued');
}

// Follows a live run's event stream, or replays a finished one's (SSE over fetch, so the key
// goes in a header).
async function followEvents(id, box, live) {
  const ctl = new AbortController();
  state.stream = ctl;
  try {
    const r = await fetch(`/v1/responses/${encodeURIComponent(id)}?stream=true`, { headers: { authorization: 'Bearer ' + state.key }, signal: ctl.signal });
    if (!r.ok) {
      if (!live) return box.append(h('div', { class: 'muted' }, 'No event log was kept for this run; its final items are above.'));
      box.append(h('div', { class: 'muted' }, 'This run has no live event stream; refreshing its state.'));
      state.timer = setInterval(async () => {
        const now = await api(`/v1/responses/${encodeURIComponent(id)}`).catch(() => null);
        if (now && now.status !== 'in_progress' && now.status !== 'queued') runView(id);
      }, 1000);
      return;
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const frame = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (!data || data === '[DONE]') continue;
        const ev = JSON.parse(data);
        box.append(h('div', { class: 'event' }, `#${ev.sequence_number} ${ev.type}${ev.delta ? ' ' + JSON.stringify(ev.delta) : ''}`));
        box.scrollTop = box.scrollHeight;
        if (live && ev.type === 'response.output_item.done') document.getElementById('items')?.append(itemRow(ev.item));
        if (/^response\.(completed|failed|incomplete|cancelled)$/.test(ev.type)) box.append(h('div', { class: 'event' }, 'The run ended: ' + ev.response.status));
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') box.append(h('div', { class: 'error' }, e.message));
  }
}

// ---- Conversations and their items.
async function conversationsView() {
  const list = await api('/v1/conversations?limit=50');
  show(h('h2', {}, 'Conversations'),
    list.data.length ? table([['Conversation', (c) => c.id], ['Metadata', (c) => JSON.stringify(c.metadata)], ['Created', (c) => when(c.created_at)]],
      list.data, (c) => conversationView(c.id)) : h('p', { class: 'muted' }, 'No conversations yet.'));
}

async function conversationView(id) {
  const items = await api(`/v1/conversations/${encodeURIComponent(id)}/items?limit=100&order=asc`);
  show(h('h2', {}, `Conversation ${id}`),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Type'), h('th', {}, 'Status'), h('th', {}, 'Detail'))),
      h('tbody', {}, items.data.map((it) => (it.type === 'message' && it.role !== 'assistant'
        ? h('tr', { class: 'item' }, h('td', {}, `${it.role} message`), h('td', {}, ''), h('td', {}, h('pre', {}, (it.content || []).map((c) => c.text || '').join(''))))
        : itemRow(it))))));
}

// ---- Memory: one end user's records, with provenance and history.
async function memoryView(user = sessionStorage.getItem('continuum.memory_user') || '') {
  const input = h('input', { id: 'memory-user', placeholder: 'end user id', value: user });
  const form = h('form', { onsubmit: (e) => { e.preventDefault(); sessionStorage.setItem('continuum.memory_user', input.value); go(() => memoryView(input.value)); } },
    h('label', {}, 'End user ', input), ' ', h('button', { type: 'submit' }, 'Show'));
  if (!user) return show(h('h2', {}, 'Memory'), form);
  const list = await api(`/v1/memories?user_id=${encodeURIComponent(user)}&limit=100`);
  const source = (m) => (m.source ? [m.source.type, m.source.response_id, m.source.conversation_id].filter(Boolean).join(' · ') : '');
  show(h('h2', {}, 'Memory'), form,
    list.data.length ? table([['Record', (m) => m.text], ['Kind', (m) => m.kind], ['Status', (m) => badge(m.status)], ['Provenance', source], ['Updated', (m) => when(m.updated_at)]],
      list.data, (m) => memoryRecordView(m, user)) : h('p', { class: 'muted' }, 'No memories for this user.'));
}

async function memoryRecordView(m, user) {
  const hist = await api(`/v1/memories/${encodeURIComponent(m.id)}/history?user_id=${encodeURIComponent(user)}`);
  show(h('h2', {}, `Memory ${m.id}`), h('div', { class: 'panel' }, h('pre', {}, JSON.stringify(m, null, 2))),
    h('h3', {}, 'History'), h('pre', { id: 'memory-history' }, JSON.stringify(hist.data || hist, null, 2)));
}

// ---- Usage: tokens per day (bars) and the table behind them.
async function usageView() {
  const u = await api('/v1/usage?group_by=day');
  const rows = u.data;
  const max = Math.max(1, ...rows.map((r) => r.input_tokens + r.output_tokens));
  const W = 640, H = 200, bw = Math.max(8, Math.floor(W / Math.max(rows.length, 1)) - 6);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', W);
  svg.setAttribute('height', H + 20);
  svg.setAttribute('id', 'usage-chart');
  rows.forEach((r, i) => {
    const x = i * (bw + 6);
    const hi = (r.input_tokens / max) * H, ho = (r.output_tokens / max) * H;
    for (const [cls, y, hh] of [['input', H - hi, hi], ['output', H - hi - ho, ho]]) {
      const rect = document.createElementNS(ns, 'rect');
      Object.entries({ class: cls, x, y, width: bw, height: Math.max(hh, 0) }).forEach(([k, v]) => rect.setAttribute(k, v));
      svg.append(rect);
    }
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', x);
    t.setAttribute('y', H + 14);
    t.textContent = r.day.slice(5);
    svg.append(t);
  });
  show(h('h2', {}, 'Usage'), h('div', { class: 'panel' }, h('p', { class: 'muted' }, 'Tokens per day: input (blue), output (orange).'), svg),
    table([['Day', (r) => r.day], ['Runs', (r) => r.runs], ['Failed', (r) => r.failed_runs], ['Input', (r) => r.input_tokens], ['Output', (r) => r.output_tokens],
      ['Cost (USD)', (r) => (r.cost_usd === null ? '—' : r.cost_usd.toFixed(4))]], rows),
    h('a', { href: '#', onclick: (e) => { e.preventDefault(); downloadCsv(); } }, 'Download CSV'));
}

async function downloadCsv() {
  const r = await fetch('/v1/usage?group_by=day,agent,user,model&format=csv', { headers: { authorization: 'Bearer ' + state.key } });
  const url = URL.createObjectURL(await r.blob());
  h('a', { href: url, download: 'usage.csv' }).click();
}

// ---- Errors: failed runs with their reasons.
async function errorsView() {
  const list = await api('/v1/responses?status=failed&limit=50');
  show(h('h2', {}, 'Errors'),
    list.data.length ? table([['Response', (r) => r.id], ['Agent', (r) => (r.agent ? r.agent.name : '')], ['Model', (r) => r.model],
      ['Error', (r) => (r.error ? `${r.error.code}: ${r.error.message}` : '')], ['Created', (r) => when(r.created_at)]], list.data, (r) => runView(r.id))
      : h('p', { class: 'muted' }, 'No failed runs.'));
}

// ---- Navigation and sign-in.
const VIEWS = { agents: agentsView, runs: runsView, conversations: conversationsView, memory: () => memoryView(), usage: usageView, errors: errorsView };

function go(fn) {
  Promise.resolve().then(fn).catch(failure);
}

function route() {
  const tab = (location.hash || '#runs').slice(1);
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.tab === tab));
  go(VIEWS[tab] || runsView);
}

function signOut(message = '') {
  stopLive();
  state.key = '';
  sessionStorage.removeItem('continuum.key');
  document.getElementById('tabs').hidden = true;
  document.getElementById('signout').hidden = true;
  view().replaceChildren();
  document.getElementById('signin').hidden = false;
  document.getElementById('signin-error').textContent = message;
}

async function signIn(key) {
  state.key = key;
  try {
    await api('/v1/responses?limit=1');
  } catch (e) {
    return signOut(e.status === 401 ? 'That key was not accepted.' : e.message);
  }
  sessionStorage.setItem('continuum.key', key);
  document.getElementById('signin').hidden = true;
  document.getElementById('tabs').hidden = false;
  document.getElementById('signout').hidden = false;
  route();
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    signIn(document.getElementById('key').value.trim());
  });
  document.getElementById('signout').addEventListener('click', () => signOut());
  // A tab clicked again goes back to its list (the hash does not change, so no hashchange).
  document.querySelectorAll('nav a').forEach((a) => a.addEventListener('click', () => {
    if (location.hash === a.getAttribute('href')) route();
  }));
  window.addEventListener('hashchange', () => state.key && route());
  if (state.key) signIn(state.key);
  else signOut();
});
