// OpenAPI documents registered as tool servers: one tool per operation, called over real HTTP
// with the end user's credential from the vault; parameters go where the document says; the
// answer is size-limited; errors are failed calls the model sees; bad documents are 400s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { withServer } from './harness.mjs';

const SECRET = 'api_key_planted_5521';

// A small HTTP API that records what it receives.
async function startApi() {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      seen.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
      if (req.headers['x-api-key'] !== SECRET) { res.writeHead(401); return res.end('no key'); }
      if (url.pathname === '/big') { res.writeHead(200, { 'content-type': 'text/plain' }); return res.end('y'.repeat(200000)); }
      const m = url.pathname.match(/^\/orders\/([^/]+)$/);
      if (req.method === 'GET' && m) {
        if (m[1] === 'missing') { res.writeHead(404, { 'content-type': 'application/json' }); return res.end('{"error":"no such order"}'); }
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ id: decodeURIComponent(m[1]), verbose: url.searchParams.get('verbose') }));
      }
      if (req.method === 'POST' && url.pathname === '/orders') {
        res.writeHead(201, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ created: JSON.parse(body), trace: req.headers['x-trace'] }));
      }
      res.writeHead(404); res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, seen, close: () => new Promise((r) => server.close(r)) };
}

const doc = (url) => ({
  openapi: '3.0.3',
  info: { title: 'orders', version: '1' },
  servers: [{ url }],
  paths: {
    '/orders/{id}': {
      parameters: [{ $ref: '#/components/parameters/OrderId' }],
      get: { operationId: 'getOrder', summary: 'Reads an order.', parameters: [{ name: 'verbose', in: 'query', schema: { type: 'boolean' } }] },
    },
    '/orders': {
      post: { operationId: 'createOrder', summary: 'Creates an order.',
        parameters: [{ name: 'X-Trace', in: 'header', schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } } } },
    },
    '/big': { get: { summary: 'A large answer.' } },
  },
  components: {
    parameters: { OrderId: { name: 'id', in: 'path', required: true, schema: { type: 'string' } } },
    schemas: { Order: { type: 'object', properties: { item: { type: 'string' }, qty: { type: 'integer' } }, required: ['item'] } },
  },
});

test('openapi tools: operations become tools; calls carry the vault credential and put parameters where the document says', async () => {
  const api = await startApi();
  try {
    await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, upstream }) => {
      const reg = await server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify({
        label: 'orders', openapi: doc(api.url), auth: { provider: 'orders', owner: 'user', scheme: 'header', header: 'X-Api-Key' } }) });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      assert.equal(reg.body.type, 'openapi');
      assert.equal(reg.body.url, api.url);
      assert.deepEqual(reg.body.operations, ['getOrder', 'createOrder', 'get_big']);
      // The document survives a restart.
      await server.stop();
      await server.start();
      assert.deepEqual((await server.json('/v1/tool_servers/orders')).body.operations, ['getOrder', 'createOrder', 'get_big']);
      const put = await server.json('/v1/vault/secrets', { method: 'POST', headers: { 'x-continuum-user': 'ada' },
        body: JSON.stringify({ provider: 'orders', value: SECRET }) });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      const ask = (input) => server.json('/v1/responses', { method: 'POST', headers: { 'x-continuum-user': 'ada' },
        body: JSON.stringify({ model: 'm', input, tools: [{ type: 'mcp', server_label: 'orders', require_approval: 'never' }] }) });

      const r = await ask('MCP_CALL getOrder {"id":"a/b 7","verbose":true}');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const listing = r.body.output[0];
      assert.equal(listing.type, 'mcp_list_tools');
      const get = listing.tools.find((t) => t.name === 'getOrder');
      assert.deepEqual(get.input_schema.required, ['id']);
      assert.equal(get.annotations.readOnlyHint, true);
      const create = listing.tools.find((t) => t.name === 'createOrder');
      assert.deepEqual(create.input_schema.properties.body.required, ['item'], 'the $ref is resolved');
      const call = r.body.output.find((o) => o.type === 'mcp_call');
      assert.deepEqual(JSON.parse(call.output), { id: 'a/b 7', verbose: 'true' });
      const hit = api.seen.at(-1);
      assert.equal(hit.method, 'GET');
      assert.equal(hit.path, '/orders/a%2Fb%207');
      assert.equal(hit.headers['x-api-key'], SECRET);

      const c = await ask('MCP_CALL createOrder {"body":{"item":"tea","qty":2},"X-Trace":"t-1"}');
      const made = c.body.output.find((o) => o.type === 'mcp_call');
      assert.deepEqual(JSON.parse(made.output), { created: { item: 'tea', qty: 2 }, trace: 't-1' });
      assert.equal(api.seen.at(-1).headers['content-type'], 'application/json');

      // A non-2xx answer is a failed call; the model is told.
      const miss = await ask('MCP_CALL getOrder {"id":"missing"}');
      const failed = miss.body.output.find((o) => o.type === 'mcp_call');
      assert.match(failed.error, /HTTP 404.*no such order/);
      // A missing required parameter never reaches the API.
      const n = api.seen.length;
      const noId = await ask('MCP_CALL getOrder {}');
      assert.match(noId.body.output.find((o) => o.type === 'mcp_call').error, /missing required parameter 'id'/);
      assert.equal(api.seen.length, n);
      // Answers are cut at the limit.
      const big = await ask('MCP_CALL get_big {}');
      const out = big.body.output.find((o) => o.type === 'mcp_call').output;
      assert.ok(out.length < 70000 && /answer cut/.test(out), `length ${out.length}`);
      // The credential reached the API only.
      for (const text of [JSON.stringify(r.body), JSON.stringify(c.body), JSON.stringify(upstream.requests), server.log])
        assert.ok(!text.includes(SECRET), 'the credential leaked');
    });
  } finally {
    await api.close();
  }
});

test('openapi tools: invalid documents are 400s naming the problem', async () => {
  await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server }) => {
    const post = (body) => server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify(body) });
    const cases = [
      [{ label: 'a', openapi: { swagger: '2.0', paths: {} } }, /OpenAPI 3/],
      [{ label: 'a', openapi: { openapi: '3.1.0', paths: [] } }, /'paths' must be an object/],
      [{ label: 'a', openapi: { openapi: '3.1.0', paths: {} }, url: 'http://127.0.0.1:1' }, /no operations/],
      [{ label: 'a', openapi: { openapi: '3.1.0', paths: { '/x': { get: {} } } } }, /'url'/],
      [{ label: 'a', openapi: 'not a document' }, /JSON object/],
      [{ label: 'a', openapi: { openapi: '3.0.0', servers: [{ url: 'http://127.0.0.1:1' }], paths: { '/x': { get: { operationId: 'same' }, post: { operationId: 'same' } } } } }, /two operations/],
    ];
    cases.push([{ label: 'a', openapi: 'openapi: 3.0.0\npaths: [unclosed\n' }, /YAML error at line/]);
    for (const [body, re] of cases) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error.message, re);
    }
    // The same document as YAML text is accepted, and stored as JSON.
    const yaml = ['openapi: "3.0.3"', 'servers:', '  - url: http://127.0.0.1:9', 'paths:', '  /items/{id}:', '    get:',
      '      operationId: readItem', '      parameters:', '        - {name: id, in: path, required: true, schema: {type: string}}',
      '        - name: limit', '          in: query', '          schema: {type: integer}'].join('\n');
    const ok = await post({ label: 'y', openapi: yaml });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.operations, ['readItem']);
    assert.equal(ok.body.url, 'http://127.0.0.1:9');
  });
});

test('openapi tools: the document\'s security schemes place the credential; form bodies', async () => {
  const seen = [];
  const apiServer = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      const url = new URL(req.url, 'http://x');
      seen.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`ok ${url.pathname}`);
    });
  });
  await new Promise((r) => apiServer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${apiServer.address().port}`;
  const CRED = 'svc:pa ss';
  const secured = {
    openapi: '3.1.0', servers: [{ url }],
    security: [{ Bearer: [] }],
    paths: {
      '/q': { get: { operationId: 'byQuery', security: [{ Unsupported: [] }, { QueryKey: [] }] } },
      '/basic': { get: { operationId: 'byBasic', security: [{ Basic: [] }] } },
      '/cookie': { get: { operationId: 'byCookie', security: [{ CookieKey: [] }] } },
      '/public': { get: { operationId: 'open', security: [] } },
      '/form': { post: { operationId: 'submitForm', requestBody: { required: true, content: { 'application/x-www-form-urlencoded': {
        schema: { type: 'object', properties: { a: { type: 'integer' }, b: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } } } } } } } },
    },
    components: { securitySchemes: {
      Bearer: { type: 'http', scheme: 'bearer' },
      Basic: { type: 'http', scheme: 'basic' },
      QueryKey: { type: 'apiKey', in: 'query', name: 'api_key' },
      CookieKey: { type: 'apiKey', in: 'cookie', name: 'sid' },
      Unsupported: { type: 'mutualTLS' },
    } },
  };
  try {
    await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, upstream }) => {
      const reg = await server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify({
        label: 'sec', openapi: secured, auth: { provider: 'secapi', owner: 'project' }, require_approval: 'never' }) });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      assert.equal(reg.body.auth.scheme, 'document', 'a document with security schemes places the credential itself');
      assert.equal((await server.json('/v1/vault/secrets', { method: 'POST', body: JSON.stringify({ provider: 'secapi', value: CRED }) })).status, 200);
      const ask = async (input) => {
        const r = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input, tools: [{ type: 'mcp', server_label: 'sec' }] }) });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const call = r.body.output.find((o) => o.type === 'mcp_call');
        assert.equal(call?.status, 'completed', JSON.stringify(r.body.output));
        for (const text of [JSON.stringify(r.body), JSON.stringify(upstream.requests)]) assert.ok(!text.includes(CRED), 'the credential leaked');
        return seen.at(-1);
      };
      const q = await ask('MCP_CALL byQuery {}');
      assert.equal(q.query.api_key, CRED, 'the first requirement with a supported scheme wins');
      assert.equal(q.headers.authorization, undefined);
      const b = await ask('MCP_CALL byBasic {}');
      assert.equal(b.headers.authorization, `Basic ${Buffer.from(CRED).toString('base64')}`);
      const c = await ask('MCP_CALL byCookie {}');
      assert.equal(c.headers.cookie, `sid=${encodeURIComponent(CRED)}`);
      const p = await ask('MCP_CALL open {}');
      assert.equal(p.headers.authorization, undefined, 'security: [] calls without the credential');
      assert.deepEqual(p.query, {});
      const f = await ask('MCP_CALL submitForm {"body":{"a":1,"b":"x y&z","tags":["p","q"]}}');
      assert.equal(f.headers.authorization, `Bearer ${CRED}`, 'the document-level requirement applies');
      assert.equal(f.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.deepEqual([...new URLSearchParams(f.body)], [['a', '1'], ['b', 'x y&z'], ['tags', 'p'], ['tags', 'q']]);
      assert.ok(!server.log.includes(CRED));
      // An explicit scheme still overrides the document; 'document' needs schemes to follow.
      const plainDoc = { openapi: '3.0.0', servers: [{ url }], paths: { '/x': { get: { operationId: 'x' } } } };
      const bad = await server.json('/v1/tool_servers', { method: 'POST', body: JSON.stringify({ label: 'p', openapi: plainDoc, auth: { provider: 'p', scheme: 'document' } }) });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.param, 'auth.scheme');
    });
  } finally {
    await new Promise((r) => apiServer.close(r));
  }
});
