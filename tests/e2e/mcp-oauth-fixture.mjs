// An MCP server protected by OAuth 2.1, as the MCP authorization spec describes: a real
// authorization server built with the official SDK's mcpAuthRouter (metadata, dynamic client
// registration, authorize with PKCE, token; its demo provider approves every user at once and
// checks the `resource` parameter strictly), and a Streamable HTTP MCP server that answers 401
// with `WWW-Authenticate: Bearer resource_metadata=...` unless the request carries a token that
// authorization server issued for this very resource. Records what each endpoint received.
import http from 'node:http';
import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { mcpAuthRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { DemoInMemoryAuthProvider } from '@modelcontextprotocol/sdk/examples/server/demoInMemoryOAuthProvider.js';
import { z } from 'zod';

const listen = (server) => new Promise((r) => server.listen(0, '127.0.0.1', () => r(server.address().port)));

export async function startOAuthMcpServer({ challengeWithMetadataUrl = true } = {}) {
  const seen = { registrations: [], authorizations: [], tokens: [], calls: [], unauthorized: 0 };
  // The MCP server first: the authorization server checks tokens are for its URL.
  const mcpHttp = http.createServer();
  const mcpPort = await listen(mcpHttp);
  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
  const provider = new DemoInMemoryAuthProvider((resource) => resource?.toString() === mcpUrl);

  const authApp = express();
  authApp.use('/register', express.json(), (req, _res, next) => { seen.registrations.push(req.body); next(); });
  authApp.use('/authorize', (req, _res, next) => { seen.authorizations.push({ ...req.query }); next(); });
  authApp.use('/token', express.urlencoded({ extended: false }), (req, _res, next) => { seen.tokens.push({ ...req.body }); next(); });
  const authHttp = http.createServer(authApp);
  const authPort = await listen(authHttp);
  const issuer = `http://127.0.0.1:${authPort}/`;
  authApp.use(mcpAuthRouter({ provider, issuerUrl: new URL(issuer), scopesSupported: ['mcp:tools'] }));

  const prmPath = '/.well-known/oauth-protected-resource/mcp';
  mcpHttp.on('request', async (req, res) => {
    if (req.method === 'GET' && req.url === prmPath) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ resource: mcpUrl, authorization_servers: [issuer], scopes_supported: ['mcp:tools'] }));
      return;
    }
    let body = '';
    for await (const c of req) body += c;
    const token = (req.headers.authorization || '').replace(/^Bearer /, '');
    let info = null;
    try { info = token ? await provider.verifyAccessToken(token) : null; } catch { info = null; }
    if (!info || info.resource?.toString() !== mcpUrl) {
      seen.unauthorized++;
      const challenge = challengeWithMetadataUrl
        ? `Bearer error="invalid_token", resource_metadata="http://127.0.0.1:${mcpPort}${prmPath}"`
        : 'Bearer error="invalid_token"';
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': challenge });
      res.end(JSON.stringify({ error: 'invalid_token' }));
      return;
    }
    const server = new McpServer({ name: 'oauth-fixture', version: '1.0.0' });
    server.registerTool('whoami', { description: 'Says which token called.', inputSchema: { note: z.string() }, annotations: { readOnlyHint: true } },
      async ({ note }) => { seen.calls.push({ token, note }); return { content: [{ type: 'text', text: `token ${token.slice(0, 8)} ${note}` }] }; });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, body ? JSON.parse(body) : undefined);
  });

  return {
    url: mcpUrl, issuer, seen,
    close: async () => {
      for (const s of [mcpHttp, authHttp]) { s.closeAllConnections(); await new Promise((r) => s.close(r)); }
    },
  };
}
