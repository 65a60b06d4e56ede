'use strict';
// client.js — a tus-js-client upload in its own process, as an SDK user would
// run it, so that a test can SIGKILL it mid-way and start another one.
//
//   node client.js start  FILE ENDPOINT TOKEN URLSTORE
//   node client.js resume FILE ENDPOINT TOKEN URLSTORE
//
// start: creates the upload (5 MiB chunks), remembers its URL in a
// tus-js-client FileUrlStorage at URLSTORE, and uploads.
// resume: finds the previous upload of FILE in URLSTORE (tus-js-client's
// findPreviousUploads, keyed by the file's fingerprint) and resumes it; it
// never creates a new upload (a lost upload is an error, not a restart).
//
// MCLOUD_TUS_CHUNK_BYTES sets the PATCH size (default 5 MiB; the fault suite
// tests/chaos/ uses small chunks so its short videos are sent in several PATCHes).
//
// Prints one line per event on stdout for the parent:
//   URL <url>            the upload URL (after creation, or the one resumed)
//   VIDEO <id>           Mcloud-Video-Id of a response
//   HEAD <offset>        Upload-Offset the server reported on resume
//   ACK <offset>         a PATCH acknowledged up to offset
//   DONE <url>           upload complete
//   ERROR <message>

const fs = require('fs');
const tus = require('tus-js-client');

const [mode, file, endpoint, token, urlStore] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${line}\n`);

const options = {
  endpoint,
  chunkSize: Number(process.env.MCLOUD_TUS_CHUNK_BYTES || 5 * 1024 * 1024),
  metadata: { filename: 'client-kill.bin', filetype: 'application/octet-stream' },
  headers: { Authorization: `Bearer ${token}` },
  urlStorage: new tus.FileUrlStorage(urlStore),
  storeFingerprintForResuming: true,
  removeFingerprintOnSuccess: false,
  retryDelays: [0, 500, 1000, 2000, 3000, 5000],
  onUploadUrlAvailable: () => say(`URL ${upload.url}`),
  onAfterResponse: (req, res) => {
    const vid = res.getHeader('Mcloud-Video-Id');
    if (vid) say(`VIDEO ${vid}`);
    if (req.getMethod() === 'HEAD' && res.getStatus() === 200) say(`HEAD ${res.getHeader('Upload-Offset')}`);
  },
  onChunkComplete: (_chunk, accepted) => say(`ACK ${accepted}`),
  onSuccess: () => { say(`DONE ${upload.url}`); process.exit(0); },
  onError: (e) => { say(`ERROR ${String(e).replace(/\n/g, ' ')}`); process.exit(1); },
};

const upload = new tus.Upload(fs.createReadStream(file), options);

if (mode === 'start') {
  upload.start();
} else if (mode === 'resume') {
  upload.findPreviousUploads().then((prev) => {
    if (prev.length === 0) {
      say('ERROR no previous upload of this file in the URL storage');
      process.exit(3);
    }
    upload.resumeFromPreviousUpload(prev[0]);
    // Resume only: without an endpoint tus-js-client cannot silently create
    // a fresh upload when the stored one is gone.
    upload.options.endpoint = null;
    upload.start();
  }, (e) => { say(`ERROR ${e}`); process.exit(1); });
} else {
  say(`ERROR unknown mode ${mode}`);
  process.exit(2);
}
