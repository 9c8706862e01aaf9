// The official openai npm client, unmodified, against `sluice serve` with the bundled model:
// chat (streaming and not), completions, models, logprobs, stop, errors; raw HTTP for the
// malformed requests no client would send; a client that disconnects frees its slot; a
// full queue answers 503.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, post, metric } from './server.mjs';

let srv;
let client;

before(async () => {
  srv = await startServer(['--parallel', '4']);
  client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 60000 });
});
after(async () => {
  await srv.stop();
});

const messages = [
  { role: 'system', content: 'You write Python.' },
  { role: 'user', content: 'def fibonacci(n):' },
];

test('chat completion, not streamed', async () => {
  const r = await client.chat.completions.create({ model: srv.id, messages, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, srv.id);
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 5);
  assert.ok(r.usage.completion_tokens <= 12);
  if (r.choices[0].finish_reason === 'length') assert.equal(r.usage.completion_tokens, 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

test('chat completion, streamed, gives the same text and usage', async () => {
  const whole = await client.chat.completions.create({ model: srv.id, messages, max_tokens: 20, temperature: 0 });
  const stream = await client.chat.completions.create({
    model: srv.id,
    messages,
    max_tokens: 20,
    temperature: 0,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let role = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  // The same counts; how much of the prompt a slot's cache held depends on what ran before.
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) assert.equal(usage[k], whole.usage[k], k);
  // The stream came after `whole` with the same messages: every prompt token but the last
  // (whose logits give the first token) came from the cache.
  assert.equal(usage.prompt_tokens_details.cached_tokens, usage.prompt_tokens - 1);
  assert.ok(whole.usage.prompt_tokens_details.cached_tokens < whole.usage.prompt_tokens);
});

test('completions continue text exactly as `sluice run` does (greedy)', async () => {
  // tests/cli: `sluice run --temp 0 -n 9 -p "def fibonacci(n):\n"` prints this continuation.
  const r = await client.completions.create({ model: srv.id, prompt: 'def fibonacci(n):\n', max_tokens: 9, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.choices[0].text, /^ +# This is a new new string\./);
  assert.equal(r.usage.prompt_tokens, 12);
  assert.equal(r.usage.completion_tokens, 9);
  assert.equal(r.choices[0].finish_reason, 'length');

  const ids = await client.completions.create({
    model: srv.id,
    prompt: [1, 629, 282, 722, 264, 330, 4010, 4002, 4029, 4003, 500, 13],
    max_tokens: 9,
    temperature: 0,
  });
  assert.equal(ids.choices[0].text, r.choices[0].text);

  const stream = await client.completions.create({
    model: srv.id,
    prompt: 'def fibonacci(n):\n',
    max_tokens: 9,
    temperature: 0,
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, r.choices[0].text);
});

test('seeded sampling repeats; logprobs; stop', async () => {
  const args = { model: srv.id, messages, max_tokens: 16, temperature: 1.0, seed: 42 };
  const a = await client.chat.completions.create(args);
  const b = await client.chat.completions.create(args);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);

  const lp = await client.chat.completions.create({ ...args, logprobs: true, top_logprobs: 3 });
  const content = lp.choices[0].logprobs.content;
  assert.equal(content.length, lp.usage.completion_tokens);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[2].logprob);
    assert.ok(Array.isArray(t.bytes));
  }

  const full = await client.completions.create({ model: srv.id, prompt: 'def fibonacci(n):\n', max_tokens: 9, temperature: 0 });
  const cut = await client.completions.create({
    model: srv.id,
    prompt: 'def fibonacci(n):\n',
    max_tokens: 9,
    temperature: 0,
    stop: ['new'],
  });
  assert.equal(cut.choices[0].finish_reason, 'stop');
  assert.equal(cut.choices[0].text, full.choices[0].text.slice(0, full.choices[0].text.indexOf('new')));
});

test('models', async () => {
  const list = await client.models.list();
  const ids = [];
  for await (const m of list) ids.push(m.id);
  assert.deepEqual(ids, [srv.id]);
  const one = await client.models.retrieve(srv.id);
  assert.equal(one.id, srv.id);
});

test('errors reach the client as APIError with the right status', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'gpt-17', messages }), (e) => {
    assert.equal(e.status, 404);
    assert.equal(e.code, 'model_not_found');
    return true;
  });
  await assert.rejects(client.chat.completions.create({ model: srv.id, messages, temperature: 7 }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.param, 'temperature');
    return true;
  });
  await assert.rejects(
    client.chat.completions.create({ model: srv.id, messages: [{ role: 'user', content: 'x '.repeat(2000) }] }),
    (e) => e.status === 400 && e.code === 'context_length_exceeded',
  );
});

test('raw HTTP error cases', async () => {
  const chat = (body) => post(srv.url, '/v1/chat/completions', body);
  const good = { model: srv.id, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };
  const cases = [
    [await chat('{"model": '), 400, 'invalid_json'],
    [await chat('"a string"'), 400, 'invalid_json'],
    [await chat(Buffer.from('{"model":"x","messages":[{"role":"user","content":"\xff\xfe"}]}', 'latin1')), 400, 'invalid_utf8'],
    [await chat(JSON.stringify({ ...good, max_tokens: 'ten' })), 400, 'invalid_type'],
    [await chat(JSON.stringify({ ...good, max_tokens: 0 })), 400, 'invalid_value'],
    [await chat(JSON.stringify({ ...good, max_tokens: 100000 })), 400, 'context_length_exceeded'],
    [await chat(JSON.stringify({ ...good, messages: [{ role: 'user', content: 3 }] })), 400, 'invalid_type'],
    [await chat(JSON.stringify({ ...good, stream: 1 })), 400, 'invalid_type'],
    [await chat(JSON.stringify({ ...good, n: 2 })), 400, 'invalid_value'],
    [await chat(JSON.stringify({ ...good, model: 'nope' })), 404, 'model_not_found'],
    [await post(srv.url, '/v1/completions', JSON.stringify({ model: srv.id, prompt: [1, 99999] })), 400, 'invalid_value'],
    [await post(srv.url, '/v1/nowhere', '{}'), 404, null],
  ];
  for (const [r, status, code] of cases) {
    assert.equal(r.status, status, r.text);
    assert.equal(typeof r.json.error.message, 'string');
    assert.equal(typeof r.json.error.type, 'string');
    if (code) assert.equal(r.json.error.code, code, r.text);
  }
  // Unknown fields are ignored, as OpenAI does.
  const ok = await chat(JSON.stringify({ ...good, frobnicate: { deep: [1] }, user: 'u' }));
  assert.equal(ok.status, 200, ok.text);
});

test('a client that disconnects frees its slot at once', async () => {
  // A long generation (4000 tokens past the trained context, end token ignored: seconds of
  // work), abandoned after three chunks: the slot must be free long before it would end.
  const long = await startServer(['--parallel', '2', '-c', '4096', '--ignore-eos']);
  try {
    const c = new OpenAI({ baseURL: long.url + '/v1', apiKey: 'unused', maxRetries: 0 });
    const ctl = new AbortController();
    const stream = await c.chat.completions.create(
      { model: long.id, messages, max_tokens: 4000, temperature: 0, stream: true },
      { signal: ctl.signal },
    );
    let chunks = 0;
    try {
      for await (const _ of stream) {
        if (++chunks === 3) {
          ctl.abort(); // the client closes the connection
          break;
        }
      }
    } catch {
      // the aborted read may end the loop with an AbortError
    }
    assert.equal(chunks, 3);
    const t0 = Date.now();
    while ((await metric(long.url, 'sluice_slots_busy')) !== 0) {
      assert.ok(Date.now() - t0 < 1000, 'slot still busy 1 s after the client left');
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await metric(long.url, 'sluice_requests_total{result="cancelled"}'), 1);
    assert.ok((await metric(long.url, 'sluice_completion_tokens_total')) < 4000);
  } finally {
    await long.stop();
  }
});

test('a full queue answers 503 and the server goes on', async () => {
  const small = await startServer(['--parallel', '1', '--queue', '1', '-c', '1024', '--ignore-eos']);
  try {
    const body = JSON.stringify({ model: small.id, prompt: 'def', max_tokens: 300, temperature: 0 });
    const results = await Promise.all([0, 1, 2, 3].map(() => post(small.url, '/v1/completions', body)));
    const statuses = results.map((r) => r.status).sort();
    assert.ok(statuses.includes(503), statuses.join());
    assert.ok(statuses.filter((s) => s === 200).length >= 2, statuses.join());
    const busy = results.find((r) => r.status === 503);
    assert.equal(busy.json.error.code, 'queue_full');
    assert.equal(busy.headers.get('retry-after'), '1');
    const after = await post(small.url, '/v1/completions', body);
    assert.equal(after.status, 200);
  } finally {
    await small.stop();
  }
});

test('--api-key: requests without the key get 401', async () => {
  const locked = await startServer(['--api-key', 'k3y', '-c', '256', '--parallel', '1']);
  try {
    const bad = new OpenAI({ baseURL: locked.url + '/v1', apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e.status === 401);
    const good = new OpenAI({ baseURL: locked.url + '/v1', apiKey: 'k3y', maxRetries: 0 });
    const r = await good.chat.completions.create({ model: locked.id, messages, max_tokens: 2 });
    assert.equal(r.choices.length, 1);
  } finally {
    await locked.stop();
  }
});
