// A real MCP server built with the official @modelcontextprotocol/sdk, served over Streamable
// HTTP on loopback, that records every tool call it receives (with the request's headers).
// Modes: stateful (sessions, SSE answers; the default), resumable (stateful with an event store:
// streams can be resumed with Last-Event-ID) or stateless with JSON answers.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';

export async function startMcpServer({ stateless = false, requireToken = null, resumable = false } = {}) {
  const calls = [];
  const sessions = new Map();
  const stats = { initializes: 0, lists: 0, cancelled: 0, resumes: 0 };
  let currentHeaders = {};

  const live = [];
  function build() {
    const server = new McpServer({ name: 'fixture', version: '1.0.0' });
    live.push(server);
    const record = (name, args) => calls.push({ name, args, headers: { ...currentHeaders } });
    server.registerTool('echo', { description: 'Echoes text back.', inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } },
      async ({ text }) => { record('echo', { text }); return { content: [{ type: 'text', text: `echo:${text}` }] }; });
    server.registerTool('add', { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() }, outputSchema: { sum: z.number() },
      annotations: { readOnlyHint: true } },
      async ({ a, b }) => { record('add', { a, b }); return { content: [{ type: 'text', text: JSON.stringify({ sum: a + b }) }], structuredContent: { sum: a + b } }; });
    server.registerTool('charge', { description: 'Charges a card (not idempotent).', inputSchema: { amount: z.number() }, annotations: { destructiveHint: true } },
      async ({ amount }) => { record('charge', { amount }); return { content: [{ type: 'text', text: `charged ${amount}` }] }; });
    server.registerTool('slow_read', { description: 'Waits, then reads (idempotent).', inputSchema: { ms: z.number() }, annotations: { readOnlyHint: true } },
      async ({ ms }) => { record('slow_read', { ms }); await new Promise((r) => setTimeout(r, ms)); return { content: [{ type: 'text', text: `read after ${ms}` }] }; });
    // Closes the request's SSE stream (the client must come back with Last-Event-ID), then answers.
    server.registerTool('poll', { description: 'Answers after closing the stream (resumable mode).', inputSchema: { ms: z.number() } },
      async ({ ms }, extra) => {
        record('poll', { ms });
        if (extra.closeSSEStream) extra.closeSSEStream();
        await new Promise((r) => setTimeout(r, ms));
        return { content: [{ type: 'text', text: `polled after ${ms}` }] };
      });
    server.registerTool('fail', { description: 'Always fails.', inputSchema: {} },
      async () => { record('fail', {}); throw new Error('the fixture tool failed on purpose'); });
    server.registerTool('slow', { description: 'Waits, then answers.', inputSchema: { ms: z.number() }, annotations: { destructiveHint: true } },
      async ({ ms }, extra) => {
        record('slow', { ms });
        await new Promise((resolve) => {
          const t = setTimeout(resolve, ms);
          extra.signal.addEventListener('abort', () => { stats.cancelled++; clearTimeout(t); resolve(); });
        });
        return { content: [{ type: 'text', text: `slept ${ms}` }] };
      });
    return server;
  }

  const httpServer = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    currentHeaders = req.headers;
    if (requireToken && req.headers.authorization !== `Bearer ${requireToken}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'unauthorized' }));
      return;
    }
    const parsed = body ? JSON.parse(body) : undefined;
    if (parsed && parsed.method === 'initialize') stats.initializes++;
    if (parsed && parsed.method === 'tools/list') stats.lists++;
    if (req.method === 'GET' && req.headers['last-event-id']) stats.resumes++;
    if (req.method === 'GET' && !req.headers['last-event-id']) stats.streams = (stats.streams || 0) + 1;
    if (stateless) {
      if (req.method !== 'POST') { res.writeHead(405).end(); return; }
      const server = build();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => { transport.close(); server.close(); });
      await server.connect(transport);
      await transport.handleRequest(req, res, parsed);
      return;
    }
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport) {
      if (!parsed || parsed.method !== 'initialize') {
        res.writeHead(sid ? 404 : 400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => sessions.set(id, transport),
        ...(resumable ? { eventStore: new InMemoryEventStore(), retryInterval: 50 } : {}) });
      await build().connect(transport);
    }
    await transport.handleRequest(req, res, parsed);
  });
  await new Promise((r) => httpServer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${httpServer.address().port}/mcp`;
  return {
    url, calls, stats,
    forgetSessions: () => sessions.clear(),
    // Registers a tool on every live server: each sends notifications/tools/list_changed (on its
    // standing GET stream, when no request is in flight).
    addTool: (name) => {
      for (const server of live)
        server.registerTool(name, { description: `Added later: ${name}.`, inputSchema: {} }, async () => ({ content: [{ type: 'text', text: name }] }));
    },
    close: () => new Promise((r) => { httpServer.closeAllConnections(); httpServer.close(r); }),
  };
}
