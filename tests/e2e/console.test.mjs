// The web console in headless Chromium (Debian's package, driven by playwright-core): sign-in
// with an API key, agents and versions, runs (a live one followed as it streams, a handoff, a
// tool call a policy denied), conversations, memory with provenance and history, usage chart,
// errors; values shown as text, never as HTML; the page's own security headers. Screenshots
// of each view go to tests/e2e/screenshots/ for review.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { withServer, sleep } from './harness.mjs';
import { startMcpServer } from './mcp-fixture.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = path.resolve(import.meta.dirname, 'screenshots');
const post = (server, p, body, headers = {}) => server.json(p, { method: 'POST', body: JSON.stringify(body), headers });

test('console: every view in Chromium, behind the API key', async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const mcp = await startMcpServer({});
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    await withServer({ env: { CONTINUUM_MCP_ALLOW_PRIVATE_URLS: '1' } }, async ({ server, client }) => {
      // What there is to see.
      await post(server, '/v1/agents', { name: 'billing', model: 'm-billing', instructions: 'You are billing.' });
      await post(server, '/v1/agents', { name: 'triage', model: 'm-triage', instructions: 'You route.', handoffs: ['billing'] });
      await post(server, '/v1/agents', { name: 'triage', model: 'm-triage', instructions: 'You route, v2.', handoffs: ['billing'] });
      const handoff = await client.responses.create({ model: 'agent:triage', input: 'MCP_CALL transfer_to_billing {}' });
      const conv = await client.conversations.create({ metadata: { topic: 'tea' } });
      await client.responses.create({ model: 'm', input: 'I like green tea', conversation: conv.id }, { headers: { 'x-continuum-user': 'ada' } });
      const xss = await client.responses.create({ model: 'm', input: '<img src=x onerror="window.pwned=1">' });
      await post(server, '/v1/policies', {}).catch(() => {});
      await server.json('/v1/policies', { method: 'PUT', body: JSON.stringify({ policies: 'permit (principal, action, resource in Server::"fx") when { context.tool == "echo" };' }) });
      const denied = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'MCP_CALL charge {"amount":5}', tools: [{ type: 'mcp', server_label: 'fx', server_url: mcp.url, require_approval: 'never' }] }) });
      assert.equal(denied.status, 200);
      const failed = await server.json('/v1/responses', { method: 'POST', body: JSON.stringify({ model: 'm', input: 'FAIL_ALWAYS' }) });
      assert.equal(failed.status, 502);
      const mem = await post(server, '/v1/memories', { text: 'Ada prefers oolong', user_id: 'ada' });
      assert.equal(mem.status, 200);
      // Online evaluation of triage, for its chart.
      const ev = await client.evals.create({ data_source_config: { type: 'logs' },
        testing_criteria: [{ type: 'string_check', name: 'any', input: '{{sample.output_text}}', reference: '', operation: 'like' }] });
      const online = await server.json('/v1/agents/triage/online_eval', { method: 'PUT', body: JSON.stringify({ eval_id: ev.id, sampling_rate: 1, min_pass_rate: 0.5 }) });
      assert.equal(online.status, 200);
      await client.responses.create({ model: 'agent:triage', input: 'graded online' });
      for (let i = 0; i < 100 && !(await server.json('/v1/agents/triage/online_eval')).body.versions.length; i++) await new Promise((r) => setTimeout(r, 50));

      const openRuns = async () => {
        await page.click('nav a[data-tab=runs]');
        await page.waitForSelector('#runs-table');
      };
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const dialogs = [];
      page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
      const res = await page.goto(`${server.base}/console`);
      assert.equal(res.status(), 200);
      const csp = res.headers()['content-security-policy'];
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.ok(!(await page.content()).includes('resp_'), 'the page holds no data before sign-in');

      // A wrong key is refused; the right one opens the console.
      await page.fill('#key', 'ck_wrong_key_000000000000');
      await page.click('#signin button');
      await page.waitForSelector('#signin-error:has-text("not accepted")');
      await page.screenshot({ path: path.join(SHOTS, '0-signin.png') });
      await page.fill('#key', server.opts.env?.CONTINUUM_API_KEY || 'ck_test_key_for_e2e_0001');
      await page.click('#signin button');
      await page.waitForSelector('#runs-table');

      // Runs: the stored ones, and a live one whose events arrive as it streams.
      const live = await client.responses.create({ model: 'm', input: 'SLOW', background: true, stream: true });
      let liveId;
      for await (const ev of live) { liveId = ev.response?.id; if (liveId) break; }
      await page.waitForSelector(`#runs-table td:has-text("${liveId}")`, { timeout: 5000 });
      const row = page.locator('#runs-table tr', { hasText: liveId });
      assert.match(await row.innerText(), /in_progress|queued/);
      await row.click();
      await page.waitForSelector('#events .event:has-text("response.output_text.delta")', { timeout: 5000 });
      await page.waitForSelector('#events .event:has-text("The run ended: completed")', { timeout: 10000 });
      assert.ok(await page.locator('#items tr').count() >= 1, 'the finished item is listed');
      await page.screenshot({ path: path.join(SHOTS, '2-live-run.png') });

      await openRuns();
      for (const id of [handoff.id, xss.id, denied.body.id, liveId]) assert.ok(await page.locator(`#runs-table td:has-text("${id}")`).count(), id);
      await page.screenshot({ path: path.join(SHOTS, '1-runs.png') });

      // A handoff, and a call a policy denied.
      await page.click(`#runs-table td:has-text("${handoff.id}")`);
      await page.waitForSelector('#items td:has-text("agent_handoff")');
      assert.match(await page.locator('.panel').innerText(), /Agent: triage v2/);
      await openRuns();
      await page.click(`#runs-table td:has-text("${denied.body.id}")`);
      await page.waitForSelector('#items td:has-text("mcp_call")');
      assert.match(await page.locator('#items').innerText(), /denied/);
      await page.screenshot({ path: path.join(SHOTS, '3-policy-denial.png') });

      // Hostile text is shown as text.
      await openRuns();
      await page.click(`#runs-table td:has-text("${xss.id}")`);
      await page.waitForSelector('#items pre');
      assert.equal(await page.locator('#view img').count(), 0);
      assert.equal(await page.evaluate(() => window.pwned), undefined);

      // Agents and versions.
      await page.click('nav a[data-tab=agents]');
      await page.waitForSelector('td:has-text("triage")');
      await page.click('td:has-text("triage")');
      await page.waitForSelector('h2:has-text("Agent triage")');
      const versions = await page.locator('table').last().innerText();
      assert.match(versions, /v1/);
      assert.match(versions, /v2/);
      assert.match(versions, /You route, v2\./);
      await page.waitForSelector('#online-eval-chart rect');
      assert.match(await page.locator('#online-eval-chart').innerHTML(), /v2 100%/);
      await page.screenshot({ path: path.join(SHOTS, '4-agent.png') });

      // Conversations and their items.
      await page.click('nav a[data-tab=conversations]');
      await page.click(`td:has-text("${conv.id}")`);
      await page.waitForSelector('pre:has-text("I like green tea")');
      await page.screenshot({ path: path.join(SHOTS, '5-conversation.png') });

      // Memory, with provenance and history.
      await page.click('nav a[data-tab=memory]');
      await page.fill('#memory-user', 'ada');
      await page.click('#view form button');
      await page.waitForSelector('td:has-text("Ada prefers oolong")');
      assert.match(await page.locator('table').innerText(), /api/);
      await page.click('td:has-text("Ada prefers oolong")');
      await page.waitForSelector('#memory-history');
      assert.match(await page.locator('#memory-history').innerText(), /"event": "created"/);
      assert.match(await page.locator('.panel').innerText(), new RegExp(mem.body.id));
      await page.screenshot({ path: path.join(SHOTS, '6-memory.png') });

      // Usage: a bar per day; errors: the failed run and why.
      await page.click('nav a[data-tab=usage]');
      await page.waitForSelector('#usage-chart rect');
      assert.ok(await page.locator('#usage-chart rect.output').count() >= 1);
      await page.screenshot({ path: path.join(SHOTS, '7-usage.png') });
      await page.click('nav a[data-tab=errors]');
      // The errors view replaces the usage view: wait for its heading, then its table.
      await page.waitForSelector('#view h2:has-text("Errors")');
      await page.waitForSelector('#view td:has-text("server_error")');
      const errs = await page.locator('#view table').innerText();
      assert.match(errs, /server_error/);
      await page.screenshot({ path: path.join(SHOTS, '8-errors.png') });

      // Another project's key sees none of it.
      const other = server.createKey('proj_other');
      await page.click('#signout');
      await page.fill('#key', other);
      await page.click('#signin button');
      await page.waitForSelector('nav:not([hidden])');
      await openRuns();
      await sleep(100);
      assert.equal(await page.locator('#runs-table tbody tr').count(), 0);
      assert.deepEqual(dialogs, []);
      await page.close();
    });
  } finally {
    await browser.close();
    await mcp.close();
  }
});
