'use strict';
// harness.js — what the end-to-end upload tests share: the stack's
// environment, mcloud-upload processes the test starts (and always kills),
// tokens, random files, the S3 object read back, Kafka and MySQL look-ups,
// and the "ok / FAIL" report ending in "N passed, M failed".
//
// Nothing here is faked: the daemons are the real build, S3 is the stack's
// MinIO, Kafka and MySQL are the stack's servers.

const { spawn, spawnSync, execFileSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const HERE = path.resolve(__dirname, '..');
const REPO = path.resolve(HERE, '..', '..', '..');
const MiB = 1024 * 1024;

// ---- environment -----------------------------------------------------------

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`FATAL: ${name} is not set (run: eval "$(scripts/stack.sh env)")`);
    process.exit(2);
  }
  return v;
}

const buildDir = path.resolve(process.env.MCLOUD_BUILD_DIR || path.join(REPO, 'build'));
const uploadBin = process.env.MCLOUD_UPLOAD_BIN || path.join(buildDir, 'upload', 'mcloud-upload');
const tokenBin = process.env.MCLOUD_TOKEN_BIN || path.join(buildDir, 'upload', 'mcloud-token');

const env = {
  home: need('MCLOUD_HOME'),
  s3Endpoint: need('MCLOUD_S3_ENDPOINT'),
  s3Bucket: process.env.MCLOUD_S3_BUCKET || 'mcloud',
  kafka: need('MCLOUD_KAFKA'),
  mysqlMaster: need('MCLOUD_MYSQL_MASTER'),
  mysqlUser: need('MCLOUD_MYSQL_USER'),
  mysqlPassword: need('MCLOUD_MYSQL_PASSWORD'),
  mysqlDatabase: need('MCLOUD_MYSQL_DATABASE'),
};
const python = path.join(env.home, 'cache', 'venv', 'bin', 'python');
const JOBS_TOPIC = 'mcloud.transcode.jobs';
const TENANT = 'local';

// ---- report ----------------------------------------------------------------

const { check, info, failures, exitWithSummary } = require('../../report');

// ---- scratch directory and cleanup ----------------------------------------

const children = new Set();
const cleanups = [];
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mcloud-e2e-upload-'));
let keepScratch = false;

function killAll() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try { process.kill(c.pid, 'SIGKILL'); } catch (_) { /* gone */ }
    }
  }
  children.clear();
}
process.on('exit', () => {
  killAll();
  if (!keepScratch) fs.rmSync(scratch, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { console.log(`# caught ${sig}, killing what this test started`); process.exit(130); });
}

function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function finish() {
  for (const f of cleanups.reverse()) {
    try { await f(); } catch (e) { info(`cleanup: ${e.message}`); }
  }
  killAll();
  if (failures() > 0) {
    keepScratch = true;
    info(`scratch (daemon logs) kept in ${scratch}`);
    for (const d of daemons) dumpLog(d);
  }
  exitWithSummary();
}

// Runs main, turns an exception into a failure, always ends with finish().
function run(main) {
  const guard = setTimeout(() => {
    check(false, 'test finished within its bounded wait (internal guard)', 'gave up');
    finish();
  }, Number(process.env.MCLOUD_E2E_GUARD_MS || 540000));
  guard.unref();
  main().then(finish, (e) => {
    check(false, 'test ran to its end', e && e.stack ? e.stack : String(e));
    finish();
  });
}

// ---- small utilities -------------------------------------------------------

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
        (last instanceof Error ? ` (last error: ${last.message})` : ''));
    }
    await sleep(intervalMs);
  }
}

// A file of `size` random bytes and its sha256.
function randomFile(name, size) {
  const file = path.join(scratch, name);
  const fd = fs.openSync(file, 'w');
  const h = crypto.createHash('sha256');
  const block = Buffer.alloc(MiB);
  for (let left = size; left > 0;) {
    const n = Math.min(left, block.length);
    crypto.randomFillSync(block, 0, n);
    fs.writeSync(fd, block, 0, n);
    h.update(block.subarray(0, n));
    left -= n;
  }
  fs.closeSync(fd);
  return { file, size, sha256: h.digest('hex') };
}

function sha256File(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function uniqueId(prefix) {
  return `${prefix}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

// ---- the daemon ------------------------------------------------------------

const daemons = [];

// Starts one mcloud-upload on `port` with its own log file; resolves when
// GET /readyz answers 200 (bounded).
// Resolves when nothing listens on 127.0.0.1:port, so /readyz below can only
// be answered by the daemon this test starts (another run's would pass it).
function assertPortFree(port) {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e) => reject(new Error(
      `port ${port} is in use (${e.code}): another test run or daemon holds it; set the test's MCLOUD_E2E_PORT_* variable`)));
    probe.listen(port, '127.0.0.1', () => probe.close(resolve));
  });
}

async function startDaemon(port, name = `upload-${port}`, extraEnv = {}) {
  if (!fs.existsSync(uploadBin)) throw new Error(`${uploadBin} is not built`);
  await assertPortFree(port);
  const log = path.join(scratch, `${name}.log`);
  const out = fs.openSync(log, 'a');
  const child = track(spawn(uploadBin, [], {
    env: {
      ...process.env,
      MCLOUD_UPLOAD_PORT: String(port),
      MCLOUD_UPLOAD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      MCLOUD_SERVICE_INSTANCE: name,
      ...extraEnv,
    },
    stdio: ['ignore', out, out],
  }));
  fs.closeSync(out);
  const d = { name, port, log, child, pid: child.pid, base: `http://127.0.0.1:${port}` };
  daemons.push(d);
  let exited = null;
  child.on('exit', (code, sig) => { exited = { code, sig }; });
  await waitFor(`${name} /readyz on port ${port}`, async () => {
    if (exited) throw new Error(`${name} exited (${JSON.stringify(exited)}) before it was ready`);
    const r = await httpRequest('GET', `${d.base}/readyz`);
    return r.status === 200;
  }, 60000, 200);
  info(`${name}: pid ${child.pid} ready on ${d.base}`);
  return d;
}

function killDaemon(d, sig = 'SIGKILL') {
  try { process.kill(d.pid, sig); } catch (_) { /* already gone */ }
}

function waitExit(d, timeoutMs = 30000) {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${d.name} did not exit`)), timeoutMs);
    d.child.once('exit', () => { clearTimeout(t); resolve(); });
  });
}

function dumpLog(d, lines = 40) {
  try {
    const text = fs.readFileSync(d.log, 'utf8').trimEnd().split('\n');
    info(`---- last ${Math.min(lines, text.length)} lines of ${d.name} log ----`);
    for (const l of text.slice(-lines)) console.log(`#   ${l}`);
  } catch (_) { /* no log */ }
}

// At the end of a test: every daemon still running is stopped with SIGTERM
// and must exit 0 within a bounded wait (graceful stop; in the sanitizer
// tree, LeakSanitizer runs then); no daemon log may hold a sanitizer report.
async function stopAndCheckDaemons() {
  for (const d of daemons) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) continue;
    killDaemon(d, 'SIGTERM');
    let ok = true;
    try { await waitExit(d, 30000); } catch (_) { ok = false; killDaemon(d, 'SIGKILL'); }
    check(ok && d.child.exitCode === 0, `${d.name}: SIGTERM stopped it, exit status 0`,
      ok ? `exit ${d.child.exitCode}/${d.child.signalCode}` : 'still running after 30 s');
  }
  for (const d of daemons) {
    let text = '';
    try { text = fs.readFileSync(d.log, 'utf8'); } catch (_) { /* none */ }
    const bad = text.split('\n').filter((l) => /ERROR: (Address|Leak|Thread)Sanitizer|runtime error:/.test(l));
    check(bad.length === 0, `${d.name}: no sanitizer report in its log`, bad.slice(0, 3).join(' | '));
  }
}

// ---- tokens ----------------------------------------------------------------

function mintToken(tenant = TENANT) {
  return execFileSync(tokenBin, ['--tenant', tenant, '--ttl', '3600'], { encoding: 'utf8' }).trim();
}

// ---- raw HTTP --------------------------------------------------------------

// One request; resolves { status, headers, body(Buffer) } or, with sink, the
// body piped through sink(chunk) and not kept.
function httpRequest(method, url, headers = {}, body = null, sink = null, timeoutMs = 120000) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const parts = [];
      res.on('data', (c) => (sink ? sink(c) : parts.push(c)));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body) req.end(body); else req.end();
  });
}

// sha256 and length of what GET <uploadUrl> streams back from the daemon.
async function sha256ViaDaemon(url, token) {
  const h = crypto.createHash('sha256');
  let n = 0;
  const r = await httpRequest('GET', url, { Authorization: `Bearer ${token}` }, null, (c) => { h.update(c); n += c.length; }, 300000);
  return { status: r.status, sha256: h.digest('hex'), size: n };
}

// ---- S3 (boto3 from the stack's venv) ----------------------------------------

function s3tool(...args) {
  const r = spawnSync(python, [path.join(__dirname, 's3tool.py'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`s3tool ${args.join(' ')}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}
const sourceKey = (videoId, tenant = TENANT) => `sources/${tenant}/${videoId}/source`;
// { exists, size, sha256 } of an object of the bucket, read back whole.
const s3Sha256 = (key) => s3tool('sha256', key);
const s3Delete = (key) => s3tool('delete', key);

// ---- Kafka -----------------------------------------------------------------

// Every message of the jobs topic whose key is videoId, read from the
// beginning of every partition to the current end: [{ key, value, json }].
function jobsFor(videoId) {
  const r = spawnSync('kcat', ['-C', '-b', env.kafka, '-t', JOBS_TOPIC, '-o', 'beginning', '-e', '-q',
    '-f', '%k\t%s\n'], { encoding: 'utf8', maxBuffer: 256 * MiB, timeout: 60000 });
  if (r.status !== 0) throw new Error(`kcat failed (${r.status}): ${r.stderr}`);
  const out = [];
  for (const line of r.stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0 || line.slice(0, tab) !== videoId) continue;
    const value = line.slice(tab + 1);
    let json = null;
    try { json = JSON.parse(value); } catch (_) { /* reported by the caller */ }
    out.push({ key: line.slice(0, tab), value, json });
  }
  return out;
}

// The job id of a job message: "job_id" (or "job": {"id"}, or "id").
function jobIdOf(m) {
  if (!m.json) return null;
  return m.json.job_id ?? (m.json.job && m.json.job.id) ?? m.json.id ?? null;
}

// ---- MySQL (the master: read-your-writes) -----------------------------------

function sql(query) {
  const [host, port] = env.mysqlMaster.split(':');
  const r = spawnSync('mariadb', ['-h', host, '-P', port, '-u', env.mysqlUser, `-p${env.mysqlPassword}`,
    env.mysqlDatabase, '-N', '-B', '-e', query], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`mariadb: ${r.stderr.trim()}`);
  return r.stdout.split('\n').filter((l) => l.length).map((l) => l.split('\t'));
}
function videoStatus(videoId) {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(videoId)) throw new Error(`odd video id ${videoId}`);
  const rows = sql(`SELECT status, COALESCE(failure_reason, '') FROM videos WHERE id='${videoId}'`);
  return rows.length ? { status: rows[0][0], reason: rows[0][1] } : null;
}

// ---- tus-js-client ---------------------------------------------------------

const tus = require('tus-js-client');

// Header of a tus-js-client HttpResponse (Node stack), case-insensitively.
function resHeader(res, name) {
  const v = res.getHeader(name);
  return v === undefined || v === null ? null : String(v);
}

// Options every tus-js-client upload here shares: the token, a video-id
// collector, and the last acknowledged offset.
function trackedOptions(token, seen) {
  return {
    headers: { Authorization: `Bearer ${token}` },
    onAfterResponse: (req, res) => {
      const vid = resHeader(res, 'Mcloud-Video-Id');
      const m = req.getMethod();
      if (vid && (m === 'POST' || m === 'HEAD')) {
        seen.videoIds = seen.videoIds || [];
        seen.videoIds.push({ method: m, url: req.getURL(), concat: req.getHeader('Upload-Concat') || null, id: vid });
      }
      if (m === 'PATCH' && res.getStatus() === 204) {
        const off = Number(resHeader(res, 'Upload-Offset'));
        seen.lastAck = Math.max(seen.lastAck || 0, off);
      }
      if (m === 'HEAD' && res.getStatus() === 200) {
        seen.heads = seen.heads || [];
        seen.heads.push({ url: req.getURL(), offset: Number(resHeader(res, 'Upload-Offset')) });
      }
      if (seen.onResponse) seen.onResponse(req, res);
    },
  };
}

// Runs one tus-js-client Upload to success or error: resolves the upload.
function runUpload(input, options) {
  return new Promise((resolve, reject) => {
    const up = new tus.Upload(input, {
      ...options,
      onSuccess: () => resolve(up),
      onError: (e) => reject(e),
    });
    if (options.beforeStart) options.beforeStart(up);
    up.start();
  });
}

// Replaces the scheme://host:port of a URL (same path: same upload id).
function rehost(url, base) {
  const u = new URL(url);
  const b = new URL(base);
  u.protocol = b.protocol;
  u.host = b.host;
  return u.toString();
}

module.exports = {
  MiB, TENANT, JOBS_TOPIC, env, buildDir, uploadBin, tokenBin, scratch, cleanups,
  check, info, run, finish, sleep, waitFor, randomFile, sha256File, uniqueId,
  startDaemon, killDaemon, waitExit, dumpLog, stopAndCheckDaemons, track,
  mintToken, httpRequest, sha256ViaDaemon,
  sourceKey, s3Sha256, s3Delete, jobsFor, jobIdOf, sql, videoStatus,
  tus, resHeader, trackedOptions, runUpload, rehost,
};
