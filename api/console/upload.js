// upload.js — direct uploads from the browser. Each file gets its own video
// and one-upload token from POST /v1/uploads, then goes to mcloud-upload
// with tus-js-client in chunks. The token, endpoint and video id are kept in
// localStorage under the file's fingerprint (name, size, type, mtime) beside
// tus-js-client's own URL storage, so after a reload the same file picks up
// its upload where it stopped instead of starting a new video.

import { api } from './api.js';

const PREFIX = 'mcloud.console.upload.';
const DEFAULT_CHUNK = 5 * 1024 * 1024;

function fingerprint(file) {
  return `${file.name}|${file.size}|${file.type}|${file.lastModified}`;
}

function chunkSize() {
  // a smaller chunk for tests and slow links (sessionStorage, this tab only)
  const v = Number(sessionStorage.getItem('mcloud.console.chunk_size'));
  return Number.isInteger(v) && v >= 64 * 1024 ? v : DEFAULT_CHUNK;
}

function savedTicket(fp) {
  try {
    const t = JSON.parse(localStorage.getItem(PREFIX + fp));
    if (t && t.token && t.endpoint && Date.parse(t.expires_at) > Date.now() + 60000) return t;
  } catch (_) { /* not ours or damaged: a new upload */ }
  localStorage.removeItem(PREFIX + fp);
  return null;
}

async function ticketFor(file, fp) {
  const saved = savedTicket(fp);
  if (saved) return { ...saved, reused: true };
  const got = await api('POST', 'uploads', { title: file.name.replace(/\.[^.]*$/, '').slice(0, 512) });
  const t = { video_id: got.video_id, endpoint: got.upload.endpoint, token: got.upload.token,
    expires_at: got.upload.expires_at };
  localStorage.setItem(PREFIX + fp, JSON.stringify(t));
  return { ...t, reused: false };
}

// One file's upload. events: onProgress(sent, total), onState(text),
// onDone(videoId), onError(message).
export class FileUpload {
  constructor(file, events) {
    this.file = file;
    this.events = events;
    this.fp = fingerprint(file);
    this.upload = null;
    this.paused = false;
    this.videoId = null;
  }

  async start() {
    const ticket = await ticketFor(this.file, this.fp);
    this.videoId = ticket.video_id;
    this.upload = new window.tus.Upload(this.file, {
      endpoint: ticket.endpoint,
      headers: { Authorization: `Bearer ${ticket.token}` },
      metadata: { filename: this.file.name, filetype: this.file.type || 'application/octet-stream' },
      chunkSize: chunkSize(),
      retryDelays: [0, 1000, 3000, 5000, 10000],
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => this.events.onProgress(sent, total),
      onError: (e) => this.events.onError(String(e && e.message ? e.message : e).split('\n')[0]),
      onSuccess: () => {
        localStorage.removeItem(PREFIX + this.fp);
        this.events.onDone(this.videoId);
      },
    });
    let resumed = false;
    if (ticket.reused) {
      const previous = await this.upload.findPreviousUploads();
      if (previous.length > 0) {
        this.upload.resumeFromPreviousUpload(previous[0]);
        resumed = true;
      }
    }
    this.events.onState(resumed ? 'resuming' : 'uploading', this.videoId);
    this.upload.start();
  }

  pause() {
    if (!this.upload || this.paused) return;
    this.paused = true;
    this.upload.abort();
    this.events.onState('paused', this.videoId);
  }

  resume() {
    if (!this.upload || !this.paused) return;
    this.paused = false;
    this.events.onState('uploading', this.videoId);
    this.upload.start();
  }
}
