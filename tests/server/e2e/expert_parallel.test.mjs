// `serve --expert-parallel` under mpirun with 2 ranks: rank 0 serves HTTP, both ranks compute
// their halves of the experts. The expectation is the same server in one process: at
// temperature 0 every reply must be the same text, one request at a time and four at once
// (batched decode steps and chunked prompts announced to rank 1). Requests with routing
// controls of their own are refused with 400 (rank 1 routes by the server's flags).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { startServer, post } from './server.mjs';

const mpirun = (process.env.SLUICE_MPIRUN ?? 'mpirun').split(' ').filter((s) => s.length > 0);
const flags = ['--parallel', '4', '-t', '1', '-b', '16', '--temp', '0'];
let one;
let two;

before(async () => {
  one = await startServer(flags);
  two = await startServer([...flags, '--expert-parallel'], [...mpirun, '-np', '2']);
});
after(async () => {
  await one?.stop();
  await two?.stop();
});

const prompts = [
  'def fibonacci(n):',
  'int main(int argc, char **argv) {',
  'NAME\n       ls - list directory contents',
  'This License applies to any program',
];

async function complete(srv, prompt) {
  const r = await post(srv.url, '/v1/completions', JSON.stringify({ model: srv.id, prompt, max_tokens: 24 }));
  assert.equal(r.status, 200, r.text);
  return r.json.choices[0].text;
}

test('one request at a time: the same text as one process', async () => {
  for (const p of prompts) {
    assert.equal(await complete(two, p), await complete(one, p), p);
  }
});

test('four requests at once: the same texts as one process', async () => {
  const want = await Promise.all(prompts.map((p) => complete(one, p)));
  const got = await Promise.all(prompts.map((p) => complete(two, p)));
  assert.deepEqual(got, want);
  assert.ok(got.every((t) => t.length > 0));
});

test('routing controls per request are refused with 400', async () => {
  const r = await post(
    two.url,
    '/v1/completions',
    JSON.stringify({ model: two.id, prompt: 'x', max_tokens: 2, sluice: { moe_top_k: 2 } }),
  );
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error.message, /--expert-parallel/);
  // and the server goes on
  assert.equal(await complete(two, prompts[0]), await complete(one, prompts[0]));
});

// The pid of rank 0: mpirun's child whose environment says OMPI_COMM_WORLD_RANK=0.
function rankZeroPid(mpirunPid) {
  for (const d of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const ppid = Number(readFileSync(`/proc/${d}/status`, 'utf8').match(/PPid:\s+(\d+)/)[1]);
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (ppid === mpirunPid && env.includes('OMPI_COMM_WORLD_RANK=0')) return Number(d);
    } catch {}
  }
  return null;
}

test('SIGTERM to rank 0 stops every rank cleanly', async () => {
  const pid = rankZeroPid(two.proc.pid);
  assert.ok(pid, 'rank 0 not found');
  const exited = new Promise((r) => two.proc.on('exit', (code) => r(code)));
  process.kill(pid, 'SIGTERM');
  assert.equal(await exited, 0, two.log());
  assert.match(two.log(), /server stopped/);
});
