// A2A 1.0 per agent, driven by the official @a2a-js/sdk client: the Agent Card, a blocking
// message, a streamed one, tasks as runs (get, cancel, subscribe), contexts as conversations,
// and the errors a client can meet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, DefaultAgentCardResolver } from '@a2a-js/sdk/client';
import { Role, TaskState } from '@a2a-js/sdk';
import { withServer, KEY } from './harness.mjs';

const authed = (key) => (url, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', `Bearer ${key}`);
  return fetch(url, { ...init, headers });
};
async function a2aClient(server, agent, key = KEY) {
  const fetchImpl = authed(key);
  const factory = new ClientFactory(ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
    transports: [new JsonRpcTransportFactory({ fetchImpl })],
    cardResolver: new DefaultAgentCardResolver({ fetchImpl }),
  }));
  return factory.createFromUrl(`${server.base}/a2a/${agent}/`);  // the card is resolved relative to the base
}
const userMessage = (text, extra = {}) => ({ messageId: randomUUID(), role: Role.ROLE_USER, parts: [{ content: { $case: 'text', value: text } }], ...extra });
const textOf = (task) => (task.artifacts || []).flatMap((a) => a.parts).map((p) => p.content?.value ?? '').join('');

test('a2a: the SDK client discovers an agent, sends messages, streams, and follows tasks', async () => {
  await withServer({}, async ({ server, upstream }) => {
    await server.json('/v1/agents', { method: 'POST', body: JSON.stringify({
      name: 'helper', model: 'm-helper', instructions: 'You help.', description: 'Answers questions.',
      skills: [{ id: 'qa', name: 'Q&A', description: 'Answers questions', tags: ['faq'] }] }) });
    const client = await a2aClient(server, 'helper');
    const card = await client.getAgentCard();
    assert.equal(card.name, 'helper');
    assert.equal(card.supportedInterfaces[0].protocolBinding, 'JSONRPC');
    assert.equal(card.supportedInterfaces[0].protocolVersion, '1.0');
    assert.equal(card.skills[0].id, 'qa');
    assert.equal(card.capabilities.streaming, true);

    // Blocking: the task comes back terminal, with the answer as its artifact.
    const sent = await client.sendMessage({ message: userMessage('hello there') });
    const task = sent.payload?.value ?? sent;
    assert.equal(task.status.state, TaskState.TASK_STATE_COMPLETED, JSON.stringify(sent));
    assert.equal(textOf(task), 'echo: hello there');
    assert.ok(task.id.startsWith('resp_'));
    assert.ok(task.contextId.startsWith('conv_'));
    assert.equal(upstream.requests.at(-1).body.model, 'm-helper');
    // The same context continues the conversation.
    const again = await client.sendMessage({ message: userMessage('and more', { contextId: task.contextId }) });
    const t2 = again.payload?.value ?? again;
    assert.equal(t2.contextId, task.contextId);
    assert.ok(upstream.requests.at(-1).body.messages.some((m) => m.content === 'hello there'), 'the context holds the earlier turn');
    // GetTask.
    const got = await client.getTask({ id: task.id });
    assert.equal(got.status.state, TaskState.TASK_STATE_COMPLETED);
    assert.equal(textOf(got), 'echo: hello there');

    // Streaming: the task first, then working, the answer in artifact chunks, then the end.
    const events = [];
    for await (const ev of client.sendMessageStream({ message: userMessage('stream SLOW') })) events.push(ev);
    const kinds = events.map((e) => e.payload.$case);
    assert.equal(kinds[0], 'task');
    assert.ok(kinds.includes('artifactUpdate'));
    assert.equal(kinds.at(-1), 'statusUpdate');
    assert.equal(events.at(-1).payload.value.status.state, TaskState.TASK_STATE_COMPLETED);
    const streamed = events.filter((e) => e.payload.$case === 'artifactUpdate').flatMap((e) => e.payload.value.artifact.parts).map((p) => p.content.value).join('');
    assert.match(streamed, /^w0 w1 w2/);
    const streamedTask = await client.getTask({ id: events[0].payload.value.id });
    assert.equal(textOf(streamedTask), streamed, 'the chunks add up to the stored answer');

    // SubscribeToTask follows a task that is running: the task first, then to its end.
    const bg = await client.sendMessage({ message: userMessage('follow SLOW'), configuration: { returnImmediately: true } });
    const followed = [];
    for await (const ev of client.resubscribeTask({ id: (bg.payload?.value ?? bg).id })) followed.push(ev);
    assert.equal(followed[0].payload.$case, 'task');
    assert.equal(followed.at(-1).payload.value.status.state, TaskState.TASK_STATE_COMPLETED);
    await assert.rejects(async () => { for await (const ev of client.resubscribeTask({ id: task.id })) void ev; }, /ended|-32004|unsupported/i);
    // returnImmediately: a working task, then cancel it.
    const quick = await client.sendMessage({ message: userMessage('long SLOW'), configuration: { returnImmediately: true } });
    const running = quick.payload?.value ?? quick;
    assert.ok([TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING].includes(running.status.state), JSON.stringify(quick));
    const cancelled = await client.cancelTask({ id: running.id });
    assert.equal(cancelled.status.state, TaskState.TASK_STATE_CANCELED);
    // Terminal tasks cannot be cancelled or subscribed to; unknown ones are not found.
    await assert.rejects(client.cancelTask({ id: task.id }), /-32002|already ended|cancel/i);
    await assert.rejects(client.getTask({ id: 'resp_nope' }), /not found/i);
  });
});

test('a2a: identity and errors: credentials, other projects, unknown agents, bad methods', async () => {
  await withServer({}, async ({ server }) => {
    await server.json('/v1/agents', { method: 'POST', body: JSON.stringify({ name: 'helper', model: 'm' }) });
    // The card and the methods need a credential.
    assert.equal((await fetch(`${server.base}/a2a/helper/.well-known/agent-card.json`)).status, 401);
    assert.equal((await fetch(`${server.base}/a2a/helper`, { method: 'POST', body: '{}' })).status, 401);
    // Another project has no such agent.
    const other = server.createKey('proj_a2a_other');
    assert.equal((await server.fetch('/a2a/helper/.well-known/agent-card.json', { key: other })).status, 404);
    await assert.rejects(a2aClient(server, 'helper', other));
    // JSON-RPC errors.
    const rpc = async (body, headers = {}) => (await server.fetch('/a2a/helper', { method: 'POST', headers: { 'a2a-version': '1.0', ...headers }, body: JSON.stringify(body) })).json();
    assert.equal((await rpc({ jsonrpc: '2.0', id: 1, method: 'Nope' })).error.code, -32601);
    assert.equal((await rpc({ jsonrpc: '2.0', id: 2, method: 'message/send', params: {} })).error.code, -32009);
    assert.equal((await rpc({ jsonrpc: '2.0', id: 3, method: 'SendMessage', params: {} }, { 'a2a-version': '9.9' })).error.code, -32009);
    assert.equal((await rpc({ jsonrpc: '2.0', id: 4, method: 'SendMessage', params: {} })).error.code, -32602);
    assert.equal((await rpc({ jsonrpc: '2.0', id: 5, method: 'SendMessage', params: { message: { messageId: 'm', role: 'ROLE_USER', parts: [{ raw: 'AAAA' }] } } })).error.code, -32005);
    assert.equal((await rpc({ jsonrpc: '2.0', id: 6, method: 'GetTask', params: { id: 'resp_x' } })).error.code, -32001);
    const bad = await server.fetch('/a2a/helper', { method: 'POST', body: '{not json' });
    assert.equal((await bad.json()).error.code, -32700);
  });
});
