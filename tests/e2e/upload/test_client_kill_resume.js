'use strict';
// A tus-js-client process uploading 64 MiB of random bytes in 5 MiB chunks is
// SIGKILLed by this test after at least KILL_AFTER bytes were acknowledged; a
// new process finds the upload in tus-js-client's FileUrlStorage and resumes
// it. The upload must resume (same URL, offset >= last acknowledged byte)
// and the object stored in S3 must be the source, byte for byte (sha256),
// read straight from S3 and through GET on the upload URL.

const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');
const h = require('./lib/harness');

const PORT = Number(process.env.MCLOUD_E2E_PORT_CLIENT_KILL || 18180);
const SIZE = 64 * h.MiB;
const KILL_AFTER = 20 * h.MiB;

// Runs lib/client.js; calls onLine(line, child) for each line it prints;
// resolves { code, signal, lines }.
function client(mode, src, endpoint, token, store, onLine = () => {}) {
  const child = h.track(spawn(process.execPath, [path.join(__dirname, 'lib', 'client.js'), mode, src, endpoint, token, store],
    { stdio: ['ignore', 'pipe', 'inherit'] }));
  const lines = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => { lines.push(l); onLine(l, child); });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, lines })));
}
const last = (lines, tag) => {
  const l = lines.filter((x) => x.startsWith(`${tag} `)).pop();
  return l === undefined ? null : l.slice(tag.length + 1);
};

h.run(async () => {
  const d = await h.startDaemon(PORT, 'upload-client-kill');
  const token = h.mintToken();
  const src = h.randomFile('client-kill.bin', SIZE);
  const store = path.join(h.scratch, 'tus-url-storage.json');
  const endpoint = `${d.base}/files/`;
  h.info(`source: ${SIZE} bytes, sha256 ${src.sha256}`);

  // 1. first process, killed once KILL_AFTER bytes are acknowledged.
  let killedAt = null;
  const first = await client('start', src.file, endpoint, token, store, (line, child) => {
    if (killedAt === null && line.startsWith('ACK ') && Number(line.slice(4)) >= KILL_AFTER) {
      killedAt = Number(line.slice(4));
      child.kill('SIGKILL');
    }
  });
  const url1 = last(first.lines, 'URL');
  const video1 = last(first.lines, 'VIDEO');
  h.check(first.signal === 'SIGKILL', 'the first client process was SIGKILLed mid-upload',
    `exit ${first.code}/${first.signal}, last lines: ${first.lines.slice(-3).join(' | ')}`);
  h.check(killedAt !== null && killedAt < SIZE, `it had ${killedAt} of ${SIZE} bytes acknowledged when killed`);
  h.check(url1 && /\/files\/[A-Za-z0-9_-]{1,64}$/.test(url1), `the upload URL has an upload id: ${url1}`);
  h.check(!!video1, `the creation response carried Mcloud-Video-Id (${video1})`);

  // 2. a new process resumes from its stored URL.
  const second = await client('resume', src.file, endpoint, token, store);
  const url2 = last(second.lines, 'URL') || last(second.lines, 'DONE');
  const headOffset = Number(last(second.lines, 'HEAD'));
  h.check(second.code === 0, 'the second client process finished the upload',
    `exit ${second.code}/${second.signal}: ${second.lines.slice(-3).join(' | ')}`);
  h.check(last(second.lines, 'DONE') === url1, 'it resumed the stored URL (no new upload was created)',
    `stored ${url1}, finished ${url2}`);
  h.check(headOffset >= killedAt && headOffset <= SIZE,
    `HEAD on resume reported offset ${headOffset} >= ${killedAt} last acknowledged (no acknowledged byte lost)`);
  const acks = second.lines.filter((l) => l.startsWith('ACK ')).map((l) => Number(l.slice(4)));
  h.check(acks.length > 0 && acks[0] > headOffset && acks[acks.length - 1] === SIZE,
    `the second process sent only the rest: ${acks.length} PATCHes from ${headOffset} to ${acks[acks.length - 1]}`);
  const heads = second.lines.filter((l) => l.startsWith('VIDEO ')).map((l) => l.slice(6));
  h.check(heads.length > 0 && heads.every((v) => v === video1), 'HEAD on resume carried the same Mcloud-Video-Id',
    heads.join(','));

  // 3. the stored object, from S3 and through the daemon.
  if (video1) {
    const key = h.sourceKey(video1);
    const obj = await h.waitFor(`S3 object ${key}`, () => { const o = h.s3Sha256(key); return o.exists && o; }, 30000, 500);
    h.check(obj.size === SIZE, `S3 ${key} is ${obj.size} bytes`);
    h.check(obj.sha256 === src.sha256, `S3 object sha256 equals the source's`, `${obj.sha256} != ${src.sha256}`);
    h.cleanups.push(() => h.s3Delete(key));
  }
  const got = await h.sha256ViaDaemon(url1, token);
  h.check(got.status === 200 && got.sha256 === src.sha256 && got.size === SIZE,
    'GET on the upload URL streams the same bytes back', `status ${got.status}, ${got.size} bytes, ${got.sha256}`);
  await h.stopAndCheckDaemons();
});
