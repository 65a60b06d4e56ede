'use strict';
// The transcode job of a completed upload is on Kafka (mcloud.transcode.jobs,
// key = video id) exactly once:
//   a. a normal upload of a real media file;
//   b. the daemon SIGKILLed as soon as the last PATCH's 204 arrives, then
//      started again (and once more, to see that a replay at start does not
//      publish what was already published);
//   b2. the daemon SIGKILLed INSIDE the window between the broker's ack and
//      the outbox commit (the daemon pauses there: upload.outbox_commit_delay_ms,
//      a fault-injection setting), then started again: the restarted
//      publisher (its own, or mcloud-api's: both publish the outbox) finds the
//      job already on the topic and only stamps its row.
//      The kill is proven to be in the window (job on the topic, row still
//      unstamped after the kill), else the test fails;
//   c. the daemon SIGKILLed while it handles the last PATCH (whole body sent,
//      no answer yet), started again, the client resumes and finishes;
//   d. a non-media file: the video is failed with a reason, and no job.
// Messages are counted by key and by job id after a settle period, reading
// every partition from the beginning with kcat.

const fs = require('fs');
const { execFileSync } = require('child_process');
const path = require('path');
const h = require('./lib/harness');

const PORT = Number(process.env.MCLOUD_E2E_PORT_KAFKA || 18184);
const SETTLE_MS = Number(process.env.MCLOUD_E2E_SETTLE_MS || 12000);
const CHUNK = 5 * h.MiB;
const WINDOW_MS = 20000; // the fault-injected pause before the outbox commit

// A real media file (MPEG-4 video + AAC audio) over two 5 MiB chunks.
function mediaFile(name) {
  const file = path.join(h.scratch, name);
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '2', '-vf', 'noise=alls=40:allf=t', '-c:v', 'mpeg4', '-q:v', '2', '-c:a', 'aac', '-shortest', file]);
  return { file, size: fs.statSync(file).size, sha256: h.sha256File(file) };
}

function upload(d, token, src, extra = {}) {
  const seen = {};
  const p = h.runUpload(fs.createReadStream(src.file), {
    ...h.trackedOptions(token, seen),
    endpoint: `${d.base}/files/`,
    chunkSize: CHUNK,
    metadata: { filename: path.basename(src.file), filetype: 'video/mp4' },
    retryDelays: null,
    beforeStart: (up) => { seen.up = up; },
    ...extra(seen),
  });
  return { seen, done: p.then(() => null, (e) => e) };
}
const videoOf = (seen) => ((seen.videoIds || []).find((v) => v.method === 'POST') || {}).id;

// The video's job row in the outbox: { rows, unpublished, attempts } (attempt
// records left). Its video events have rows of their own, on another topic.
function outboxOf(videoId) {
  if (!/^[A-Za-z0-9-]{1,64}$/.test(videoId)) throw new Error(`odd video id ${videoId}`);
  const [row] = h.sql(`SELECT COUNT(*), SUM(o.published_at IS NULL), COUNT(a.outbox_id) FROM outbox o
    LEFT JOIN outbox_attempts a ON a.outbox_id = o.id WHERE o.msg_key = '${videoId}' AND o.topic = '${h.JOBS_TOPIC}'`);
  return { rows: Number(row[0]), unpublished: Number(row[1] || 0), attempts: Number(row[2]) };
}

// Counts the job messages of a video after they appeared (bounded) and a
// settle period; checks exactly one by key and one distinct job id.
async function exactlyOnce(label, videoId, beforeSettle = async () => {}) {
  let msgs = [];
  try {
    msgs = await h.waitFor(`a job for ${videoId} on ${h.JOBS_TOPIC}`, () => { const m = h.jobsFor(videoId); return m.length && m; }, 90000, 1000);
  } catch (e) { h.info(e.message); }
  h.check(msgs.length > 0, `${label}: the job of video ${videoId} appeared on ${h.JOBS_TOPIC}`);
  await beforeSettle();
  await h.sleep(SETTLE_MS);
  msgs = h.jobsFor(videoId);
  const ids = msgs.map(h.jobIdOf);
  const distinct = new Set(ids);
  h.check(msgs.length === 1, `${label}: exactly one message with key ${videoId} after ${SETTLE_MS} ms more (found ${msgs.length})`,
    msgs.map((m) => m.value).join(' | '));
  h.check(ids.every((x) => x !== null), `${label}: every message is JSON with a job id`, msgs.map((m) => m.value).join(' | '));
  h.check(distinct.size === 1 && ids.length === msgs.length && msgs.length === 1,
    `${label}: one job id (${[...distinct].join(',')}), never repeated`);
  const m = msgs[0];
  if (m && m.json) {
    h.check(m.json.v === 1, `${label}: the message is versioned ("v": 1)`, m.value);
    h.check(JSON.stringify(m.json).includes(videoId), `${label}: the message names the video`, m.value);
  }
  const st = h.videoStatus(videoId);
  h.check(st && ['uploaded', 'transcoding', 'ready'].includes(st.status),
    `${label}: the video row says ${st && st.status}`, JSON.stringify(st));
  h.cleanups.push(() => h.s3Delete(h.sourceKey(videoId)));
}

h.run(async () => {
  const token = h.mintToken();
  const media = mediaFile('media.mp4');
  h.info(`media file: ${media.size} bytes`);
  let d = await h.startDaemon(PORT, 'upload-kafka-1');

  // a. normal upload.
  {
    const u = upload(d, token, media, () => ({}));
    const err = await u.done;
    h.check(err === null, 'a: the upload finished', err && String(err));
    const vid = videoOf(u.seen);
    h.check(!!vid, `a: video id ${vid}`);
    if (vid) await exactlyOnce('a', vid);
  }

  // b. SIGKILL as soon as the last PATCH's 204 arrives.
  {
    let killed = false;
    const u = upload(d, token, media, (seen) => ({
      onAfterResponse: (req, res) => {
        h.trackedOptions(token, seen).onAfterResponse(req, res);
        if (!killed && req.getMethod() === 'PATCH' && res.getStatus() === 204 &&
            Number(res.getHeader('Upload-Offset')) === media.size) {
          killed = true;
          h.killDaemon(d, 'SIGKILL');
        }
      },
    }));
    const err = await u.done;
    const vid = videoOf(u.seen);
    h.check(killed, `b: daemon SIGKILLed right after the last PATCH's 204 (video ${vid})`, err && String(err));
    await h.waitExit(d);
    d = await h.startDaemon(PORT, 'upload-kafka-2');
    if (vid) {
      await exactlyOnce('b', vid, async () => {
        // one more crash and start: a replay must not publish it again
        h.killDaemon(d, 'SIGKILL');
        await h.waitExit(d);
        d = await h.startDaemon(PORT, 'upload-kafka-3');
      });
    }
  }

  // b2. SIGKILL inside the window between the broker's ack and the commit.
  {
    h.killDaemon(d, 'SIGKILL');
    await h.waitExit(d);
    d = await h.startDaemon(PORT, 'upload-kafka-window', { MCLOUD_UPLOAD_OUTBOX_COMMIT_DELAY_MS: String(WINDOW_MS) });
    const u = upload(d, token, media, () => ({}));
    const err = await u.done;
    const vid = videoOf(u.seen);
    h.check(err === null && !!vid, `b2: the upload finished (video ${vid})`, err && String(err));
    if (vid) {
      const acked = await h.waitFor(`the job of ${vid} on ${h.JOBS_TOPIC} while the commit pauses`,
        () => h.jobsFor(vid).length > 0, WINDOW_MS / 2, 200).catch(() => false);
      h.killDaemon(d, 'SIGKILL');
      await h.waitExit(d);
      const before = outboxOf(vid);
      h.check(acked && before.rows === 1 && before.unpublished === 1 && before.attempts === 1,
        `b2: SIGKILL landed between the broker's ack and the outbox commit (job on the topic: ${acked}; ` +
        `after the kill ${before.unpublished} of ${before.rows} outbox row(s) unstamped, ${before.attempts} attempt record(s))`);
      d = await h.startDaemon(PORT, 'upload-kafka-5');
      await exactlyOnce('b2', vid);
      const after = outboxOf(vid);
      h.check(after.unpublished === 0 && after.attempts === 0,
        `b2: the restarted publisher stamped the row without producing it again (unstamped ${after.unpublished}, ` +
        `attempt records ${after.attempts})`);
    }
  }

  // c. SIGKILL while the last PATCH is being handled, then resume.
  {
    let killed = false;
    const u = upload(d, token, media, (seen) => ({
      onProgress: (sent, total) => {
        if (!killed && sent === total) { killed = true; h.killDaemon(d, 'SIGKILL'); }
      },
    }));
    const err = await u.done;
    const vid = videoOf(u.seen);
    const url = u.seen.up && u.seen.up.url;
    h.check(killed, `c: daemon SIGKILLed after the whole last PATCH body was sent (video ${vid})`);
    h.info(`c: first client ${err ? `stopped: ${String(err).split('\n')[0]}` : 'finished before the kill took effect'}`);
    await h.waitExit(d);
    d = await h.startDaemon(PORT, 'upload-kafka-4');
    const seen2 = {};
    let err2 = null;
    try {
      await h.runUpload(fs.createReadStream(media.file), {
        ...h.trackedOptions(token, seen2), uploadUrl: url, chunkSize: CHUNK, retryDelays: Array(40).fill(1000),
      });
    } catch (e) { err2 = e; }
    const head = (seen2.heads || [])[0];
    h.check(err2 === null, `c: the client resumed ${url} and finished (server had ${head && head.offset} of ${media.size})`,
      err2 && String(err2));
    if (vid) await exactlyOnce('c', vid);
  }

  // d. non-media: failed, with a reason, no job.
  {
    const junk = h.randomFile('junk.bin', 6 * h.MiB);
    const u = upload(d, token, junk, () => ({}));
    const err = await u.done;
    const vid = videoOf(u.seen);
    h.check(err === null && !!vid, `d: a non-media upload finished (video ${vid})`, err && String(err));
    if (vid) {
      const st = await h.waitFor(`video ${vid} leaves "uploading"`, () => { const s = h.videoStatus(vid); return s && s.status !== 'uploading' && s; }, 60000, 500)
        .catch((e) => ({ status: null, reason: e.message }));
      h.check(st.status === 'failed' && st.reason.length > 0, `d: the video is failed with a reason: ${st.reason}`,
        JSON.stringify(st));
      await h.sleep(SETTLE_MS);
      const msgs = h.jobsFor(vid);
      h.check(msgs.length === 0, `d: no job for it on ${h.JOBS_TOPIC} after ${SETTLE_MS} ms`, msgs.map((m) => m.value).join(' | '));
      h.cleanups.push(() => h.s3Delete(h.sourceKey(vid)));
    }
  }
  await h.stopAndCheckDaemons();
});
