// `sluice bench-serve --peer-url`: the same streamed load against another OpenAI-compatible
// server in one run. The peer here is a second `sluice serve`; its own /metrics count what it
// received, independently of what bench-serve prints. A peer that does not answer makes
// bench-serve fail with the reason, and a URL it cannot use is refused before the model loads.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { bin, model, startServer, metric } from './server.mjs';

let peer;
before(async () => {
  peer = await startServer(['--parallel', '2', '-t', '1']);
});
after(async () => {
  await peer?.stop();
});

function benchServe(extra) {
  const args = ['bench-serve', '-m', model, '-t', '1', '-n', '3', '--levels', '1,2', '--steps', '2', '--requests', '2'];
  return spawnSync(bin, [...args, ...extra], { encoding: 'utf8', timeout: 240000 });
}

test('the same load goes to the peer; rows, ratios and the goal line are printed', async () => {
  const before = await metric(peer.url, 'sluice_requests_total{result="ok"}');
  const tokensBefore = await metric(peer.url, 'sluice_completion_tokens_total');
  const r = benchServe(['--peer-url', peer.url]);
  assert.equal(r.status, 0, r.stderr);
  for (const level of [1, 2]) {
    const c = String(level).padStart(11);
    assert.match(r.stdout, new RegExp(`\\| ${c} \\| sluice \\|        2 \\| [^\\n]* \\|      0 \\|\\n`));
    assert.match(r.stdout, new RegExp(`\\| ${c} \\|   peer \\|        2 \\| [^\\n]* \\|      0 \\|\\n`));
    assert.match(r.stdout, new RegExp(`\\| ${c} \\|  ratio \\|          \\| +[0-9.]+x \\| +[0-9.]+x \\|`));
  }
  assert.match(r.stdout, /\ngoal: completion tok\/s >= 1\.2x the peer's with p99 latency no worse: c1 [0-9.]+x \((met|not met)\) c2 [0-9.]+x/);
  // The peer served the warm-up (2) and both levels (2 each), 3 tokens each (ignore_eos).
  assert.equal((await metric(peer.url, 'sluice_requests_total{result="ok"}')) - before, 6);
  assert.equal((await metric(peer.url, 'sluice_completion_tokens_total')) - tokensBefore, 18);
});

test('a peer that does not answer fails the run with the reason', () => {
  const r = benchServe(['--peer-url', 'http://127.0.0.1:1']);
  assert.equal(r.status, 1, r.stdout);
  assert.match(r.stderr, /bench-serve: 4 requests to the peer at http:\/\/127\.0\.0\.1:1 failed; the first: no reply \(/);
});

test('a URL bench-serve cannot use is refused before the model loads', () => {
  for (const url of ['https://127.0.0.1:8080', '127.0.0.1:8080', 'http://127.0.0.1', 'http://127.0.0.1:99999']) {
    const r = benchServe(['--peer-url', url]);
    assert.equal(r.status, 1, url);
    assert.match(r.stderr, /--peer-url .*: give http:\/\/HOST:PORT/, url);
    assert.equal(r.stdout, '', url);  // nothing ran
  }
});
