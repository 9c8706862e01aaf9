// Starts `sluice serve` on a free loopback port for a test file and stops it afterwards.
// SLUICE_BIN and SLUICE_MODEL come from ctest (tests/server/CMakeLists.txt).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export const bin = process.env.SLUICE_BIN ?? 'build/sluice';
export const model = process.env.SLUICE_MODEL ?? 'models/trained-qwen3moe-q8_0.gguf';

// `launcher`: a command that starts sluice, e.g. mpirun and its flags; the server's stderr is
// watched for its address either way.
export async function startServer(extra = [], launcher = []) {
  const threads = extra.includes('-t') ? [] : ['-t', '2'];
  const args = ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0', ...threads, ...extra];
  const cmd = launcher.length > 0 ? [...launcher, bin, ...args] : [bin, ...args];
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60000);
    proc.stderr.on('data', (d) => {
      log += d.toString();
      const m = log.match(/serving '([^']+)' on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[2]);
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
  const id = log.match(/serving '([^']+)'/)[1];
  return {
    proc,
    url,
    id,
    log: () => log,
    rssKiB: () => Number(readFileSync(`/proc/${proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]),
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop() {
      if (!this.alive()) return;
      const exited = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

// POST with a raw body (string or Buffer); returns status and parsed JSON (or text).
export async function post(url, path, body, headers = {}) {
  const res = await fetch(url + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text, headers: res.headers };
}

export async function metric(url, name) {
  const text = await (await fetch(url + '/metrics')).text();
  const esc = name.replace(/[{}"]/g, (c) => '\\' + c);
  const m = text.match(new RegExp(`^${esc} ([0-9.e+-]+)$`, 'm'));
  return m ? Number(m[1]) : NaN;
}
