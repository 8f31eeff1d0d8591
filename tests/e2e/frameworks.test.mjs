// Third-party frameworks with only the base URL changed: the Vercel AI SDK's Responses history
// (earlier replies sent as item_reference), LangChain over the Responses API and over Chat
// Completions (the pass-through), with the strict recording upstream that refuses misordered
// tool messages as OpenAI's chat endpoint does; OpenAI's Agents SDK (a function tool run by the
// client, a chain through previousResponseId, a conversation). Also one smoke test with the 6.x
// openai SDK.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import OpenAI6 from 'openai6';
import OpenAI from 'openai';
import { Agent, run, tool, setDefaultOpenAIClient, setTracingDisabled } from '@openai/agents';
import { z } from 'zod';
import { withServer, KEY } from './harness.mjs';

test('Vercel AI SDK: a second turn refers to the first reply by item_reference', async () => {
  await withServer({}, async ({ server, upstream }) => {
    const openai = createOpenAI({ baseURL: `${server.base}/v1`, apiKey: KEY });
    const history = [{ role: 'user', content: 'What is the capital of France?' }];
    const first = await generateText({ model: openai.responses('gpt-4o'), messages: history });
    assert.equal(first.text, 'echo: What is the capital of France?');
    history.push(...first.response.messages, { role: 'user', content: 'And of Spain?' });
    const second = await generateText({ model: openai.responses('gpt-4o'), messages: history });
    assert.equal(second.text, 'echo: And of Spain?');
    assert.deepEqual(upstream.last().body.messages, [
      { role: 'user', content: 'What is the capital of France?' },
      { role: 'assistant', content: 'echo: What is the capital of France?' },
      { role: 'user', content: 'And of Spain?' },
    ]);
  });
});

test('LangChain over the Responses API and over Chat Completions, with a tool round trip', async () => {
  await withServer({}, async ({ server, upstream }) => {
    const tool = { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } };
    for (const useResponsesApi of [true, false]) {
      const llm = new ChatOpenAI({ model: 'gpt-4o', apiKey: KEY, configuration: { baseURL: `${server.base}/v1` }, useResponsesApi, maxRetries: 0 }).bindTools([tool]);
      const ask = new HumanMessage('CALL_TOOL weather in Paris?');
      const called = await llm.invoke([ask]);
      assert.equal(called.tool_calls.length, 1, `responses api: ${useResponsesApi}`);
      const answered = await llm.invoke([ask, called, new ToolMessage({ tool_call_id: called.tool_calls[0].id, content: '21 C' })]);
      assert.equal(upstream.last().body.messages.at(-1).role, 'tool');
      assert.ok(typeof answered.content === 'string' || Array.isArray(answered.content));
    }
  });
});

test('the 6.x openai SDK still works for plain turns, chains and streams', async () => {
  await withServer({}, async ({ server }) => {
    const client = new OpenAI6({ apiKey: KEY, baseURL: `${server.base}/v1`, maxRetries: 0 });
    const a = await client.responses.create({ model: 'gpt-4o', input: 'hello' });
    const b = await client.responses.create({ model: 'gpt-4o', input: 'again', previous_response_id: a.id });
    assert.equal(b.output_text, 'echo: again');
    const stream = await client.responses.create({ model: 'gpt-4o', input: 'streamed', stream: true });
    let text = '';
    for await (const ev of stream) if (ev.type === 'response.output_text.delta') text += ev.delta;
    assert.equal(text, 'echo: streamed');
  });
});

test("OpenAI's Agents SDK: a function tool round trip, a chain by previousResponseId, a conversation", async () => {
  await withServer({}, async ({ server, upstream, client }) => {
    setTracingDisabled(true);
    setDefaultOpenAIClient(new OpenAI({ apiKey: KEY, baseURL: `${server.base}/v1`, maxRetries: 0 }));
    const calls = [];
    const getWeather = tool({
      name: 'get_weather', description: 'The weather in a city.', parameters: z.object({ city: z.string() }),
      execute: async ({ city }) => { calls.push(city); return `21 C in ${city}`; },
    });
    const agent = new Agent({ name: 'Weather', instructions: 'Answer about the weather.', tools: [getWeather], model: 'gpt-4o' });
    const first = await run(agent, 'CALL_TOOL weather in Paris?');
    assert.deepEqual(calls, ['Paris']);
    assert.equal(first.finalOutput, 'tool said: 21 C in Paris');
    // The tool output reached the model right after its call.
    const roles = upstream.last().body.messages.map((m) => m.role);
    assert.deepEqual(roles.slice(-3), ['user', 'assistant', 'tool']);
    // A chain: the server holds the history; the SDK sends only the new turn.
    const second = await run(agent, 'and tomorrow?', { previousResponseId: first.lastResponseId });
    assert.equal(second.finalOutput, 'echo: and tomorrow?');
    const texts = upstream.last().body.messages.filter((m) => m.role === 'user').map((m) => m.content);
    assert.deepEqual(texts, ['CALL_TOOL weather in Paris?', 'and tomorrow?']);
    // A conversation.
    const conv = await client.conversations.create({});
    await run(agent, 'remember: blue', { conversationId: conv.id });
    const third = await run(agent, 'what did I say?', { conversationId: conv.id });
    assert.equal(third.finalOutput, 'echo: what did I say?');
    const items = await client.conversations.items.list(conv.id, { order: 'asc' });
    assert.equal(items.data.length, 4);
  });
});
