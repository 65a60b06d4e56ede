'use strict';
// tus-js-client with parallelUploads: 4 splits 64 MiB of random bytes into
// four partial uploads (Upload-Concat: partial), uploads them at the same
// time in 5 MiB chunks, then creates the final upload (Upload-Concat: final;
// <the four URLs>). The final upload's video must hold the source byte for
// byte, in S3 and through GET on the final URL.

const fs = require('fs');
const h = require('./lib/harness');

const PORT = Number(process.env.MCLOUD_E2E_PORT_PARALLEL || 18183);
const SIZE = 64 * h.MiB;

h.run(async () => {
  const d = await h.startDaemon(PORT, 'upload-parallel');
  const token = h.mintToken();
  const src = h.randomFile('parallel.bin', SIZE);
  h.info(`source: ${SIZE} bytes, sha256 ${src.sha256}`);

  const seen = {};
  const creations = [];
  seen.onResponse = (req, res) => {
    if (req.getMethod() === 'POST') {
      creations.push({ status: res.getStatus(), concat: req.getHeader('Upload-Concat') || null,
        location: res.getHeader('Location'), video: res.getHeader('Mcloud-Video-Id') || null });
    }
  };
  let err = null;
  let up = null;
  try {
    up = await h.runUpload(fs.createReadStream(src.file), {
      ...h.trackedOptions(token, seen),
      endpoint: `${d.base}/files/`,
      parallelUploads: 4,
      chunkSize: 5 * h.MiB,
      metadata: { filename: 'parallel.bin', filetype: 'application/octet-stream' },
      retryDelays: [0, 1000, 3000],
    });
  } catch (e) { err = e; }
  h.check(err === null, 'tus-js-client finished the parallel upload', err && String(err));
  const partials = creations.filter((c) => c.concat === 'partial');
  const finals = creations.filter((c) => c.concat && c.concat.startsWith('final;'));
  h.check(partials.length === 4 && partials.every((c) => c.status === 201),
    `4 partial uploads created (${partials.map((c) => c.status).join(',')})`);
  h.check(finals.length === 1 && finals[0].status === 201, 'one final upload created from them',
    JSON.stringify(finals));
  if (finals.length !== 1) return;
  const fin = finals[0];
  const listed = fin.concat.slice('final;'.length).trim().split(/\s+/);
  h.check(listed.length === 4, `the final names the 4 partials: ${listed.join(' ')}`);
  h.check(!!fin.video, `the final's creation response carried Mcloud-Video-Id (${fin.video})`);
  const finalUrl = up ? up.url : null;

  // The final upload's HEAD: complete, length = the whole file.
  const head = await h.httpRequest('HEAD', finalUrl, { 'Tus-Resumable': '1.0.0', Authorization: `Bearer ${token}` });
  h.check(head.status === 200 && Number(head.headers['upload-offset']) === SIZE &&
    Number(head.headers['upload-length']) === SIZE,
    `HEAD on the final: 200, Upload-Offset = Upload-Length = ${SIZE}`,
    `${head.status} offset ${head.headers['upload-offset']} length ${head.headers['upload-length']}`);
  h.check(/^final;/.test(head.headers['upload-concat'] || ''), `HEAD on the final says Upload-Concat: final;...`,
    head.headers['upload-concat']);

  if (fin.video) {
    const key = h.sourceKey(fin.video);
    const obj = await h.waitFor(`S3 object ${key}`, () => { const o = h.s3Sha256(key); return o.exists && o; }, 60000, 500)
      .catch((e) => ({ exists: false, err: e.message }));
    h.check(obj.exists && obj.size === SIZE && obj.sha256 === src.sha256,
      `S3 ${key}: ${obj.size} bytes, sha256 equals the source's`, JSON.stringify(obj));
    if (obj.exists) h.cleanups.push(() => h.s3Delete(key));
  }
  const got = await h.sha256ViaDaemon(finalUrl, token);
  h.check(got.status === 200 && got.sha256 === src.sha256 && got.size === SIZE,
    'GET on the final URL streams the same bytes back', `status ${got.status}, ${got.size} bytes, ${got.sha256}`);
  await h.stopAndCheckDaemons();
});
