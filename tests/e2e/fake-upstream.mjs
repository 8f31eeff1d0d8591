// A local OpenAI-compatible /v1/chat/completions server that records every request it receives.
// It answers according to markers in the last user message, so tests can script it:
//   CALL_TOOL   -> one streamed tool call to the first tool (arguments in two pieces)
//   CALL_TWO    -> two parallel tool calls
//   SLOW        -> 20 text deltas, 100 ms apart (LONGSLOW: 60)
//   SLOW_CALL   -> after 1.5 s, one tool call to the first tool
//   FAIL_ONCE   -> HTTP 500 the first time this exact text is seen, then a normal answer
//   FAIL_ALWAYS -> HTTP 500 every time
//   BAD_REQUEST -> HTTP 400
//   LENGTH      -> finish_reason "length"
//   REASON      -> a reasoning_content delta before the text
//   MCP_CALL t {json} -> a call of the offered tool t (several markers: parallel calls)
//   RUN_PY<<<code>>>, RUN_SH<<<code>>> -> a code_interpreter call running that code
//   a json_schema response format asking for {"label"} or {"score"} -> a judge's answer (below)
// anything else -> "echo: <last user text>" in three deltas, with usage.
import http from 'node:http';
import https from 'node:https';

// A 16-dimension "semantic" embedding: words of one topic share a dimension, so "pet" is near
// "cat" although they share no letters (the built-in embedder cannot do that).
const TOPICS = [['cat', 'cats', 'dog', 'dogs', 'pet', 'pets', 'kitten', 'puppy'], ['peanut', 'peanuts', 'nut', 'nuts', 'snack', 'allergy', 'allergic']];
function embed(text) {
  const v = new Array(16).fill(0);
  for (const w of text.toLowerCase().match(/[a-z]+/g) || []) {
    const t = TOPICS.findIndex((g) => g.includes(w));
    if (t >= 0) v[t] += 3;
    else v[2 + ([...w].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % 14)] += 1;
  }
  return v;
}

// Memory extraction per its JSON schema: first-person sentences of the user's lines become
// memories ("prefer/like/love" ones are preferences). MALFORMED in the turn gives broken JSON.
function extraction(transcript) {
  if (transcript.includes('MALFORMED')) return '{"memories": [ {"text": ';
  const memories = [];
  const userLines = transcript.split('\n').filter((l) => l.startsWith('user: ')).map((l) => l.slice(6));
  for (const line of userLines) {
    for (const sentence of line.split(/(?<=[.!?])\s+/)) {
      const s = sentence.trim();
      if (!/\b(I|my|My)\b/.test(s) || s.endsWith('?')) continue;
      memories.push({ text: s, kind: /prefer|like|love/i.test(s) ? 'preference' : 'fact' });
    }
  }
  const summary = transcript.includes('(Summary: null.)') ? null : 'Summary: ' + userLines.join(' ').slice(0, 200);
  return JSON.stringify({ memories, summary });
}

// Consolidation: a new preference supersedes an older one on the same subject ("answers in").
function consolidation(task) {
  const existing = [...task.matchAll(/^(\d+)\. (.*)$/gm)].map((m) => ({ i: Number(m[1]), text: m[2] }));
  const fresh = (task.match(/New memory: (.*)/) || [])[1] || '';
  const subject = (t) => (t.match(/prefer (\w+ \w+)/i) || [])[1];
  const hit = existing.find((e) => subject(e.text) && subject(e.text) === subject(fresh));
  if (hit) return JSON.stringify({ decision: 'supersede', target: hit.i, text: fresh });
  return JSON.stringify({ decision: 'add', target: null, text: fresh });
}

// OpenAI's chat endpoint refuses a tool message that does not answer the assistant message right
// before it (or the tool messages after that one), and tool calls left unanswered before the
// next message: so does this one.
export function misordered(messages) {
  let open = null;  // the call ids of the last assistant tool_calls message not yet answered
  for (const m of messages) {
    if (m.role === 'tool') {
      if (!open || !open.has(m.tool_call_id)) return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
      open.delete(m.tool_call_id);
      continue;
    }
    if (open && open.size) return "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: " + [...open].join(', ');
    open = m.role === 'assistant' && m.tool_calls ? new Set(m.tool_calls.map((c) => c.id)) : null;
  }
  return null;
}

export async function startFakeUpstream({ tls } = {}) {
  const requests = [];
  const seen = new Set();
  const handler = (req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handle(req, res, body));
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  function handle(req, res, body) {
    if (req.method === 'POST' && req.url.endsWith('/embeddings')) {
      const json = JSON.parse(body);
      requests.push({ headers: req.headers, body: json, embeddings: true });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', model: json.model, data: [{ object: 'embedding', index: 0, embedding: embed(String(json.input)) }], usage: { prompt_tokens: 1, total_tokens: 1 } }));
      return;
    }
    if (req.method === 'GET' && req.url.endsWith('/models')) {
      requests.push({ headers: req.headers, models: true });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'gpt-upstream', object: 'model', created: 1, owned_by: 'fake' }] }));
      return;
    }
    if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found' } }));
      return;
    }
    const json = JSON.parse(body);
    requests.push({ headers: req.headers, body: json });
    const order = misordered(json.messages);
    if (order) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: order, type: 'invalid_request_error', param: 'messages', code: null } }));
      return;
    }
    const lastUser = [...json.messages].reverse().find((m) => m.role === 'user');
    const text = lastUser ? (typeof lastUser.content === 'string' ? lastUser.content : lastUser.content.map((p) => p.text ?? '').join('')) : '';
    const lastIsTool = json.messages.length && json.messages[json.messages.length - 1].role === 'tool';
    if (text.includes('FAIL_ALWAYS') || (text.includes('FAIL_ONCE') && !seen.has(text))) {
      seen.add(text);
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'upstream exploded', type: 'server_error' } }));
      return;
    }
    if (text.includes('BAD_REQUEST')) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'the upstream did not like this', type: 'invalid_request_error' } }));
      return;
    }
    if (json.stream !== true) {  // a plain chat completion (the pass-through route); CALL_TOOL calls the first tool
      const call = !lastIsTool && text.includes('CALL_TOOL') && json.tools?.length;
      const message = call
        ? { role: 'assistant', content: null, tool_calls: [{ id: 'call_plain', type: 'function', function: { name: json.tools[0].function.name, arguments: '{"city":"Paris"}' } }] }
        : { role: 'assistant', content: 'echo: ' + text };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'chatcmpl-plain', object: 'chat.completion', created: 1, model: json.model,
        choices: [{ index: 0, message, finish_reason: call ? 'tool_calls' : 'stop', logprobs: null }],
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } }));
      return;
    }
    const schemaName = json.response_format && json.response_format.json_schema && json.response_format.json_schema.name;
    if (schemaName === 'memory_extraction' || schemaName === 'memory_consolidation') {
      const answer = schemaName === 'memory_extraction' ? extraction(text) : consolidation(text);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: json.model, choices: [{ index: 0, delta: { content: answer }, finish_reason: 'stop' }] })}\n\n`);
        res.end('data: [DONE]\n\n');
      };
      if (text.includes('SLOWEXTRACT')) setTimeout(send, 3000); else send();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const id = 'chatcmpl-' + requests.length;
    // With logprobs asked for, each content delta carries one entry per word-ish piece, with
    // top_logprobs alternatives when asked.
    const logprobsOf = (text) => ({ content: text.split(/(?=\s)/).map((token, i) => ({
      token, logprob: -0.125 * (i + 1), bytes: [...Buffer.from(token)],
      top_logprobs: Array.from({ length: json.top_logprobs || 0 }, (_, k) => ({ token: k ? `${token}#${k}` : token, logprob: -0.125 * (i + 1) - k, bytes: [...Buffer.from(token)] })),
    })) });
    const chunk = (delta, finish = null, usage = null) =>
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: json.model, choices: [{ index: 0, delta, finish_reason: finish, ...(json.logprobs && delta.content ? { logprobs: logprobsOf(delta.content) } : {}) }], usage })}\n\n`);
    const end = (finish) => {
      chunk({}, finish);
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1, model: json.model, choices: [], usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 } })}\n\n`);
      res.write('data: [DONE]\n\n');
      res.end();
    };
    chunk({ role: 'assistant', content: '' });
    const hasTool = (n) => (json.tools || []).some((t) => t.function.name === n);
    if (!lastIsTool && hasTool('memory_write') && text.includes('USE_MEMORY_WRITE ')) {
      const arg = JSON.stringify({ text: text.split('USE_MEMORY_WRITE ')[1], kind: 'preference' });
      chunk({ tool_calls: [{ index: 0, id: 'call_mw', type: 'function', function: { name: 'memory_write', arguments: arg } }] });
      return end('tool_calls');
    }
    if (!lastIsTool && hasTool('memory_search') && text.includes('USE_MEMORY_SEARCH ')) {
      const arg = JSON.stringify({ query: text.split('USE_MEMORY_SEARCH ')[1] });
      chunk({ tool_calls: [{ index: 0, id: 'call_ms', type: 'function', function: { name: 'memory_search', arguments: arg } }] });
      return end('tool_calls');
    }
    // RUN_PY<<<code>>> / RUN_SH<<<code>>>: a code_interpreter call with that code, when offered.
    const codeCall = text.match(/RUN_(PY|SH)<<<([\s\S]*?)>>>/);
    if (!lastIsTool && codeCall && hasTool('code_interpreter')) {
      const arg = JSON.stringify({ code: codeCall[2], language: codeCall[1] === 'PY' ? 'python' : 'shell' });
      chunk({ tool_calls: [{ index: 0, id: 'call_ci', type: 'function', function: { name: 'code_interpreter', arguments: arg } }] });
      return end('tool_calls');
    }
    // MCP_CALL <tool> <json args>, once or several times: calls those tools (in parallel) when
    // all of them are offered; otherwise the model just answers.
    const mcpCalls = [...text.matchAll(/MCP_CALL (\w+) (\{(?:[^{}]|\{[^{}]*\})*\})/g)];
    if (!lastIsTool && mcpCalls.length && mcpCalls.every((m) => hasTool(m[1]))) {
      mcpCalls.forEach((m, i) => chunk({ tool_calls: [{ index: i, id: `call_m${i}`, type: 'function', function: { name: m[1], arguments: m[2] } }] }));
      return end('tool_calls');
    }
    if (!lastIsTool && json.tools && text.includes('CALL_TWO')) {
      chunk({ tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: json.tools[0].function.name, arguments: '{"n":' } }] });
      chunk({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] });
      chunk({ tool_calls: [{ index: 1, id: 'call_b', type: 'function', function: { name: json.tools[json.tools.length - 1].function.name, arguments: '{"n":2}' } }] });
      return end('tool_calls');
    }
    if (!lastIsTool && json.tools && text.includes('SLOW_CALL')) {
      const timer = setTimeout(() => {
        chunk({ tool_calls: [{ index: 0, id: 'call_slow', type: 'function', function: { name: json.tools[0].function.name, arguments: '{"city":"Paris"}' } }] });
        end('tool_calls');
      }, 1500);
      res.on('close', () => clearTimeout(timer));
      return;
    }
    if (!lastIsTool && json.tools && text.includes('CALL_TOOL')) {
      chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: json.tools[0].function.name, arguments: '{"city":' } }] });
      chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] });
      return end('tool_calls');
    }
    if (text.includes('SLOW')) {
      const n = text.includes('LONGSLOW') ? 60 : 20;
      let i = 0;
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        if (i < n) { chunk({ content: `w${i} ` }); i++; return; }
        clearInterval(timer);
        end('stop');
      }, 100);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (text.includes('REASON')) chunk({ reasoning_content: 'thinking...' });
    if (json.response_format && json.response_format.type === 'json_schema') {
      // A judge: {"label"} picks the first label the last user message names (else the last
      // label); {"score"} is 0.9 when that message says GOOD, else 0.2.
      const props = json.response_format.json_schema?.schema?.properties || {};
      if (props.label) {
        const labels = props.label.enum || [];
        const named = labels.find((l) => text.toLowerCase().includes(l.toLowerCase()));
        chunk({ content: JSON.stringify({ label: named ?? labels.at(-1) }) });
        return end('stop');
      }
      if (props.score) {
        chunk({ content: JSON.stringify({ score: text.includes('GOOD') ? 0.9 : 0.2 }) });
        return end('stop');
      }
      chunk({ content: '{"ok":' });
      chunk({ content: 'true}' });
      return end('stop');
    }
    const reply = lastIsTool ? `tool said: ${json.messages[json.messages.length - 1].content}` : `echo: ${text}`;
    const third = Math.ceil(reply.length / 3);
    chunk({ content: reply.slice(0, third) });
    chunk({ content: reply.slice(third, 2 * third) });
    chunk({ content: reply.slice(2 * third) });
    end(text.includes('LENGTH') ? 'length' : 'stop');
  }

  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  return {
    url: `${tls ? 'https' : 'http'}://${tls ? 'localhost' : '127.0.0.1'}:${port}/v1`,
    requests,
    last: () => requests[requests.length - 1],
    clear: () => (requests.length = 0),
    close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(r); }),
  };
}
