// A bounded soak: 200 requests at concurrency 8 against one server (chat and completions,
// streamed and not, one in five malformed, one in ten abandoned mid-stream). Passes when no
// valid request gets a 5xx, every malformed one gets a 4xx in OpenAI's error shape, the
// server is alive and healthy at the end, and its resident memory after the soak is within
// RSS_MARGIN_KIB of what it was after a warm-up of the same traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, post, metric } from './server.mjs';

const TOTAL = 200;
const CONCURRENCY = 8;
const RSS_MARGIN_KIB = 8 * 1024; // the stated margin: 8 MiB over a ~70 MiB process

function requestFor(i, id) {
  const kind = i % 10;
  const user = `Request ${i}: write a function number ${i % 7}.`;
  if (i % 5 === 4) {
    // Malformed, five kinds in turn.
    switch ((i / 5) % 5 | 0) {
      case 0: return { bad: true, path: '/v1/chat/completions', body: '{"model": "' + id + '", "messages": [' };
      case 1: return { bad: true, path: '/v1/chat/completions', body: JSON.stringify({ model: id, messages: [{ role: 'user', content: user }], temperature: 'warm' }) };
      case 2: return { bad: true, path: '/v1/completions', body: Buffer.from(`{"model":"${id}","prompt":"\xc3\x28"}`, 'latin1') };
      case 3: return { bad: true, path: '/v1/chat/completions', body: JSON.stringify({ model: 'not-' + id, messages: [{ role: 'user', content: user }] }) };
      default: return { bad: true, path: '/v1/completions', body: JSON.stringify({ model: id, prompt: 'x '.repeat(400) }) };
    }
  }
  const max_tokens = 8 + (i % 17);
  const stream = kind % 2 === 1;
  const abandon = kind === 3;
  const body =
    kind < 6
      ? { model: id, messages: [{ role: 'user', content: user }], max_tokens, stream, temperature: 0.7, seed: i }
      : { model: id, prompt: `def f${i}(x):\n`, max_tokens, stream, temperature: 0.7, seed: i };
  if (stream) body.stream_options = { include_usage: true };
  return { bad: false, abandon, path: kind < 6 ? '/v1/chat/completions' : '/v1/completions', body: JSON.stringify(body) };
}

async function send(url, r) {
  if (!r.abandon) return post(url, r.path, r.body);
  // Read the first bytes of the stream, then hang up.
  const ctl = new AbortController();
  const res = await fetch(url + r.path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: r.body, signal: ctl.signal });
  const reader = res.body.getReader();
  await reader.read();
  ctl.abort();
  return { status: res.status, json: null, text: '', abandoned: true };
}

function checkValid(r, req, failures) {
  if (r.status !== 200) {
    failures.push(`valid request got ${r.status}: ${r.text.slice(0, 200)}`);
    return;
  }
  if (r.abandoned) return;
  const streamed = JSON.parse(req.body).stream;
  if (streamed) {
    if (!r.text.endsWith('data: [DONE]\n\n')) failures.push(`stream did not end with [DONE]: ${r.text.slice(-100)}`);
    const events = r.text.split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
    const usage = events.at(-1).usage;
    if (!usage || usage.completion_tokens > JSON.parse(req.body).max_tokens) failures.push('bad usage in stream');
  } else {
    const j = r.json;
    if (!j || !j.choices || j.choices.length !== 1 || !['stop', 'length'].includes(j.choices[0].finish_reason)) {
      failures.push(`bad body: ${r.text.slice(0, 200)}`);
    }
  }
}

async function runBatch(url, id, from, count, failures) {
  let next = from;
  const counts = { valid: 0, bad: 0 };
  const worker = async () => {
    while (next < from + count) {
      const i = next++;
      const req = requestFor(i, id);
      let r;
      try {
        r = await send(url, req);
      } catch (e) {
        failures.push(`request ${i} failed at the transport: ${e.message}`);
        continue;
      }
      if (req.bad) {
        counts.bad++;
        if (r.status < 400 || r.status >= 500 || !r.json?.error?.message) failures.push(`malformed request ${i} got ${r.status}: ${r.text.slice(0, 200)}`);
      } else {
        counts.valid++;
        checkValid(r, req, failures);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return counts;
}

test(`soak: ${TOTAL} requests at concurrency ${CONCURRENCY}`, { timeout: 240000 }, async () => {
  const srv = await startServer(['--parallel', '4', '--queue', '16']);
  try {
    const failures = [];
    await runBatch(srv.url, srv.id, 0, 40, failures); // warm-up: slots, caches, thread stacks
    const rssBefore = srv.rssKiB();
    const t0 = Date.now();
    const counts = await runBatch(srv.url, srv.id, 40, TOTAL, failures);
    const seconds = (Date.now() - t0) / 1000;
    // Let abandoned streams drain before reading the gauges.
    for (let k = 0; k < 100 && (await metric(srv.url, 'sluice_slots_busy')) !== 0; k++) await new Promise((r) => setTimeout(r, 20));
    const rssAfter = srv.rssKiB();
    console.log(
      `soak: ${counts.valid} valid + ${counts.bad} malformed in ${seconds.toFixed(1)} s; ` +
        `RSS ${rssBefore} KiB -> ${rssAfter} KiB (${rssAfter - rssBefore >= 0 ? '+' : ''}${rssAfter - rssBefore} KiB, margin ${RSS_MARGIN_KIB} KiB)`,
    );
    assert.deepEqual(failures, []);
    assert.ok(srv.alive(), 'the server died');
    const health = await fetch(srv.url + '/health');
    assert.equal(health.status, 200);
    assert.equal(await metric(srv.url, 'sluice_slots_busy'), 0);
    assert.equal(await metric(srv.url, 'sluice_queue_depth'), 0);
    assert.ok(rssAfter - rssBefore <= RSS_MARGIN_KIB, `RSS grew by ${rssAfter - rssBefore} KiB`);
  } finally {
    await srv.stop();
  }
});
