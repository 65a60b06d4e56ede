'use strict';
// Two mcloud-upload replicas, A and B, share the stack (Redis, S3, MySQL).
// tus-js-client uploads 64 MiB of random bytes to A in 5 MiB chunks; once at
// least KILL_AFTER bytes are acknowledged and the next PATCH is half sent,
// A is SIGKILLed. The client then resumes the same upload id on B (the
// URL's host:port rewritten) and finishes. Checks: B knows the upload, its
// offset is >= the last offset A acknowledged (no acknowledged byte lost),
// and the object in S3 is the source byte for byte.

const fs = require('fs');
const h = require('./lib/harness');

const PORT_A = Number(process.env.MCLOUD_E2E_PORT_REPLICA_A || 18181);
const PORT_B = Number(process.env.MCLOUD_E2E_PORT_REPLICA_B || 18182);
const SIZE = 64 * h.MiB;
const CHUNK = 5 * h.MiB;
const KILL_AFTER = 20 * h.MiB;

h.run(async () => {
  const a = await h.startDaemon(PORT_A, 'upload-replica-a');
  const b = await h.startDaemon(PORT_B, 'upload-replica-b');
  const token = h.mintToken();
  const src = h.randomFile('replica-kill.bin', SIZE);
  h.info(`source: ${SIZE} bytes, sha256 ${src.sha256}`);

  // 1. upload to A, SIGKILL A in the middle of a PATCH.
  const seenA = {};
  let killedAtAck = null;
  let killedAtSent = null;
  let urlA = null;
  let errA = null;
  try {
    await h.runUpload(fs.createReadStream(src.file), {
      ...h.trackedOptions(token, seenA),
      endpoint: `${a.base}/files/`,
      chunkSize: CHUNK,
      metadata: { filename: 'replica-kill.bin', filetype: 'application/octet-stream' },
      retryDelays: null, // A is dead for good: no point retrying it
      beforeStart: (up) => { seenA.up = up; },
      onProgress: (sent) => {
        const ack = seenA.lastAck || 0;
        if (killedAtAck === null && ack >= KILL_AFTER && sent > ack) {
          killedAtAck = ack;
          killedAtSent = sent;
          h.killDaemon(a, 'SIGKILL');
        }
      },
    });
  } catch (e) { errA = e; }
  urlA = seenA.up && seenA.up.url;
  await h.waitExit(a);
  h.check(a.child.signalCode === 'SIGKILL', `replica A (pid ${a.pid}) was SIGKILLed mid-PATCH`,
    `exit ${a.child.exitCode}/${a.child.signalCode}`);
  h.check(killedAtAck !== null, `A had acknowledged ${killedAtAck} bytes; ${killedAtSent} were sent when it died`);
  h.check(errA !== null, 'the client saw the upload to A fail', 'it finished instead');
  const videoA = (seenA.videoIds || []).find((v) => v.method === 'POST');
  h.check(urlA && videoA, `A created ${urlA} for video ${videoA && videoA.id}`);
  if (!urlA || !videoA) return;

  // 2. resume the same upload id on B.
  const urlB = h.rehost(urlA, b.base);
  const seenB = {};
  let errB = null;
  try {
    await h.runUpload(fs.createReadStream(src.file), {
      ...h.trackedOptions(token, seenB),
      uploadUrl: urlB,
      chunkSize: CHUNK,
      // A held the upload's lock when it died: B may answer 423 until the
      // lock expires; tus-js-client retries 423 (bounded: 60 tries).
      retryDelays: Array(60).fill(1000),
    });
  } catch (e) { errB = e; }
  h.check(errB === null, `the client finished the upload on B (${urlB})`, errB && String(errB));
  const headB = (seenB.heads || [])[0];
  h.check(headB && headB.offset >= killedAtAck && headB.offset <= SIZE,
    `B's HEAD offset ${headB && headB.offset} >= ${killedAtAck} last acknowledged by A (no acknowledged byte lost)`);
  h.check(seenB.lastAck === SIZE || (headB && headB.offset === SIZE), `B acknowledged the upload up to ${SIZE}`,
    `last ack ${seenB.lastAck}`);
  const videoB = (seenB.videoIds || []).find((v) => v.method === 'HEAD');
  h.check(videoB && videoB.id === videoA.id, `B's HEAD names the same video (${videoB && videoB.id})`);

  // 3. the object.
  const key = h.sourceKey(videoA.id);
  const obj = await h.waitFor(`S3 object ${key}`, () => { const o = h.s3Sha256(key); return o.exists && o; }, 30000, 500)
    .catch((e) => ({ exists: false, err: e.message }));
  h.check(obj.exists && obj.size === SIZE && obj.sha256 === src.sha256,
    `S3 ${key}: ${obj.size} bytes, sha256 equals the source's`, JSON.stringify(obj));
  if (obj.exists) h.cleanups.push(() => h.s3Delete(key));
  const got = await h.sha256ViaDaemon(urlB, token);
  h.check(got.status === 200 && got.sha256 === src.sha256 && got.size === SIZE,
    'GET on B streams the same bytes back', `status ${got.status}, ${got.size} bytes, ${got.sha256}`);
  await h.stopAndCheckDaemons();
});
