// app.js — the mcloud web console: a single page routed by the URL's hash
// (#/videos, #/videos/<id>, #/upload, #/webhooks, #/usage, #/keys), signed in with
// an API key kept in sessionStorage. Everything it shows comes from
// mcloud-api (/v1/...); uploads go straight to mcloud-upload (upload.js),
// playback straight to mcloud-stream. The webhooks and usage pages say
// "not available on this server" while the API answers them 404.

import { api, apiKey, ApiError } from './api.js';
import { FileUpload } from './upload.js';

const $ = (sel, root = document) => root.querySelector(sel);
const view = $('#view');
const POLL_MS = 2000;
let cleanup = [];           // what the current page must stop when left
const uploads = [];         // every FileUpload of this page's life (the upload page's list)

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// a table that may scroll sideways on a phone: a named region reachable by Tab
function tableWrap(label, table) {
  return el('div', { class: 'table-wrap', role: 'region', 'aria-label': label, tabindex: '0' }, table);
}

function toast(msg) {
  const t = $('#toast');
  t.textContent = msg;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.textContent = ''; }, 4000);
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}
const fmtTime = (s) => (s ? new Date(s).toLocaleString() : '—');

function statusCell(v) {
  let text = v.status;
  if (v.status === 'transcoding' && typeof v.progress === 'number') text += ` ${Math.round(v.progress * 100)} %`;
  if (v.status === 'failed' && v.failure_reason) text += `: ${v.failure_reason}`;
  return el('span', { class: `status status-${v.status}`, 'data-status': v.status, text });
}

function errorBox(e) {
  return el('p', { class: 'error', role: 'alert', text: e instanceof ApiError ? `${e.message} (HTTP ${e.status})` : String(e) });
}

function unavailable(what) {
  return el('p', { class: 'unavailable', 'data-unavailable': '', text: `${what} are not available on this server (the API answers 404: it has no such endpoint yet).` });
}

function copyField(label, value) {
  const id = `copy-${Math.random().toString(36).slice(2, 9)}`;
  const input = el('input', { id, type: 'text', readonly: true, value });
  return el('div', { class: 'copy' },
    el('label', { for: id, text: label }), input,
    el('button', { type: 'button', 'aria-label': `Copy ${label}`, text: 'Copy',
      onclick: async () => {
        try { await navigator.clipboard.writeText(value); toast(`${label} copied`); } catch (_) {
          input.select(); toast('Press Ctrl+C to copy');
        }
      } }));
}

function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) { try { await fn(); } catch (_) { /* shown by fn */ } }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  cleanup.push(() => { stopped = true; clearTimeout(timer); });
}

// ---- upload -----------------------------------------------------------------

function uploadRow(file) {
  const bar = el('progress', { max: '100', value: '0', 'aria-label': `Upload progress of ${file.name}` });
  const pct = el('span', { class: 'pct', text: '0 %' });
  const state = el('span', { class: 'state', text: 'starting' });
  const link = el('span');
  const pause = el('button', { type: 'button', 'aria-label': `Pause ${file.name}`, text: 'Pause', disabled: true });
  const li = el('li', { 'data-file': file.name },
    el('div', {}, el('strong', { text: file.name }), ' ', el('span', { class: 'muted', text: fmtBytes(file.size) }), ' — ', state, ' ', pct, ' ', link),
    pause, bar);
  const u = new FileUpload(file, {
    onProgress: (sent, total) => {
      const p = total ? Math.floor((sent / total) * 100) : 0;
      bar.value = p;
      pct.textContent = `${p} %`;
      li.dataset.progress = String(p);
    },
    onState: (s, videoId) => {
      state.textContent = s;
      li.dataset.state = s;
      if (videoId) {
        li.dataset.video = videoId;
        link.replaceChildren(el('a', { href: `#/videos/${videoId}`, text: 'open video' }));
      }
      pause.disabled = false;
      pause.textContent = s === 'paused' ? 'Resume' : 'Pause';
      pause.setAttribute('aria-label', `${s === 'paused' ? 'Resume' : 'Pause'} ${file.name}`);
    },
    onDone: () => {
      state.textContent = 'uploaded';
      li.dataset.state = 'uploaded';
      bar.value = 100;
      pct.textContent = '100 %';
      li.dataset.progress = '100';
      pause.disabled = true;
    },
    onError: (msg) => {
      state.textContent = `error: ${msg}`;
      li.dataset.state = 'error';
    },
  });
  pause.addEventListener('click', () => (u.paused ? u.resume() : u.pause()));
  u.row = li;
  u.start().catch((e) => { state.textContent = `error: ${e.message}`; li.dataset.state = 'error'; });
  return u;
}

function addFiles(files, list) {
  for (const f of files) {
    const u = uploadRow(f);
    uploads.push(u);
    list.append(u.row);
  }
}

function pageUpload() {
  const list = el('ul', { class: 'uploads', id: 'upload-list', 'aria-label': 'Uploads' });
  for (const u of uploads) list.append(u.row);
  const input = el('input', { id: 'file-input', type: 'file', multiple: true, accept: 'video/*,audio/*',
    onchange: () => { addFiles(input.files, list); input.value = ''; } });
  const drop = el('div', { class: 'drop', id: 'drop', tabindex: '0', role: 'button', 'aria-describedby': 'drop-help',
    onclick: () => input.click(),
    onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); } },
    ondragover: (e) => { e.preventDefault(); drop.classList.add('over'); },
    ondragleave: () => drop.classList.remove('over'),
    ondrop: (e) => { e.preventDefault(); drop.classList.remove('over'); addFiles(e.dataTransfer.files, list); } },
  'Drop video files here, or press Enter to choose files');
  view.replaceChildren(el('h2', { text: 'Upload' }), drop,
    el('p', { id: 'drop-help', class: 'muted', text: 'One or many files; each becomes a video. An interrupted upload resumes when you add the same file again, also after a reload.' }),
    el('p', {}, el('label', { for: 'file-input', text: 'Or choose files' }), input), list);
}

// ---- videos -----------------------------------------------------------------

function pageVideos(params) {
  const state = { cursor: params.get('cursor') || '', status: params.get('status') || '',
    after: params.get('after') || '', before: params.get('before') || '', prev: [] };
  const body = el('tbody');
  const msg = el('div');
  const status = el('select', { id: 'f-status', name: 'status' },
    ['', 'uploading', 'uploaded', 'transcoding', 'ready', 'failed'].map((s) => el('option', { value: s, text: s || 'any' })));
  status.value = state.status;
  const after = el('input', { id: 'f-after', type: 'date', value: state.after });
  const before = el('input', { id: 'f-before', type: 'date', value: state.before });
  const prevBtn = el('button', { type: 'button', text: 'Previous page', disabled: true });
  const nextBtn = el('button', { type: 'button', text: 'Next page', disabled: true });
  let next = null;

  async function load() {
    const q = new URLSearchParams({ limit: '20' });
    if (state.cursor) q.set('cursor', state.cursor);
    if (state.status) q.set('status', state.status);
    if (state.after) q.set('created_after', new Date(`${state.after}T00:00:00`).toISOString());
    if (state.before) q.set('created_before', new Date(`${state.before}T23:59:59`).toISOString());
    try {
      const page = await api('GET', `videos?${q}`);
      next = page.next_cursor;
      body.replaceChildren(...page.data.map((v) => el('tr', { 'data-video': v.id },
        el('td', {}, el('a', { href: `#/videos/${v.id}`, text: v.title || v.id })),
        el('td', {}, statusCell(v)),
        el('td', { class: 'hide-narrow', text: fmtTime(v.created_at) }))));
      msg.replaceChildren(page.data.length ? '' : el('p', { class: 'muted', text: 'No videos match.' }));
      nextBtn.disabled = !next;
      prevBtn.disabled = state.prev.length === 0;
    } catch (e) {
      if (e.status === 401) return signOut('The API key was refused.');
      msg.replaceChildren(errorBox(e));
    }
  }
  const refilter = () => {
    state.status = status.value; state.after = after.value; state.before = before.value;
    state.cursor = ''; state.prev = [];
    load();
  };
  status.addEventListener('change', refilter);
  after.addEventListener('change', refilter);
  before.addEventListener('change', refilter);
  nextBtn.addEventListener('click', () => { state.prev.push(state.cursor); state.cursor = next; load(); });
  prevBtn.addEventListener('click', () => { state.cursor = state.prev.pop() || ''; load(); });

  view.replaceChildren(el('h2', { text: 'Videos' }),
    el('div', { class: 'filters', role: 'search', 'aria-label': 'Filter videos' },
      el('div', {}, el('label', { for: 'f-status', text: 'Status' }), status),
      el('div', {}, el('label', { for: 'f-after', text: 'Created from' }), after),
      el('div', {}, el('label', { for: 'f-before', text: 'Created until' }), before)),
    tableWrap('Videos', el('table', { id: 'videos' },
      el('caption', { class: 'muted', text: 'Newest first; the status refreshes by itself.' }),
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Title' }), el('th', { scope: 'col', text: 'Status' }),
        el('th', { scope: 'col', class: 'hide-narrow', text: 'Created' }))), body)),
    msg, el('div', { class: 'pager' }, prevBtn, nextBtn));
  load();
  every(POLL_MS, load);
}

function player(v) {
  const video = el('video', { id: 'player', controls: true, playsinline: true, muted: true, 'aria-label': `Player: ${v.title || v.id}`, poster: v.playback.poster });
  const sel = el('select', { id: 'rendition', name: 'rendition' }, el('option', { value: '-1', text: 'Auto' }));
  const mode = el('span', { class: 'muted', id: 'player-mode' });
  let hls = null;
  if (window.Hls && window.Hls.isSupported()) {
    hls = new window.Hls({ enableWorker: true });
    hls.on(window.Hls.Events.MANIFEST_PARSED, (_e, data) => {
      data.levels.forEach((l, i) => sel.append(el('option', { value: String(i), text: `${l.height}p (${Math.round(l.bitrate / 1000)} kbit/s)` })));
    });
    hls.on(window.Hls.Events.ERROR, (_e, d) => { if (d.fatal) mode.textContent = `playback error: ${d.details}`; });
    hls.loadSource(v.playback.hls);
    hls.attachMedia(video);
    mode.textContent = 'HLS (hls.js)';
    cleanup.push(() => hls.destroy());
  } else {
    video.src = v.playback.hls;
    mode.textContent = 'HLS (native)';
  }
  sel.addEventListener('change', () => { if (hls) hls.currentLevel = Number(sel.value); });
  window.mcloudConsolePlayer = { video, hls };
  return el('div', {}, video,
    el('p', {}, el('label', { for: 'rendition', text: 'Rendition' }), sel, ' ', mode),
    el('h3', { text: 'Progressive MP4' }),
    el('ul', { id: 'mp4-links' }, Object.entries(v.playback.mp4).map(([rung, url]) => el('li', {}, el('a', { href: url, text: rung })))));
}

function probe(s) {
  if (!s) return el('p', { class: 'muted', text: 'Not probed yet.' });
  const rows = [['Container', s.container], ['Duration', s.duration_ms !== null ? `${(s.duration_ms / 1000).toFixed(1)} s` : null],
    ['Size', fmtBytes(s.size_bytes)], ['Video', s.video_codec && `${s.video_codec} ${s.width}×${s.height}`], ['Audio', s.audio_codec]];
  return el('dl', { class: 'probe' }, rows.map(([k, val]) => [el('dt', { text: k }), el('dd', { text: val || '—' })]));
}

function renditions(list) {
  if (!list.length) return el('p', { class: 'muted', text: 'No renditions yet.' });
  return tableWrap('Renditions', el('table', { id: 'renditions' },
    el('thead', {}, el('tr', {}, ['Name', 'Kind', 'Size', 'Bit rate', 'Codecs', 'Bytes'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, list.map((r) => el('tr', {}, el('td', { text: r.name }), el('td', { text: r.kind }),
      el('td', { text: `${r.width}×${r.height}` }), el('td', { text: `${Math.round(r.bitrate / 1000)} kbit/s` }),
      el('td', { text: r.codecs }), el('td', { text: fmtBytes(r.size_bytes) }))))));
}

// metadata as "key=value" lines, the way people type them
const metaText = (m) => Object.entries(m || {}).map(([k, val]) => `${k}=${val}`).join('\n');
function metaParse(text) {
  const out = {};
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    const i = line.indexOf('=');
    if (i < 1) throw new Error(`metadata line "${line}" is not key=value`);
    out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return Object.keys(out).length ? out : null;
}

function editForm(v, refresh) {
  const title = el('input', { id: 'edit-title', type: 'text', maxlength: '512', value: v.title });
  const desc = el('input', { id: 'edit-desc', type: 'text', maxlength: '5000', value: v.description });
  const meta = el('textarea', { id: 'edit-meta', rows: '3', 'aria-describedby': 'edit-meta-help', spellcheck: 'false' });
  meta.value = metaText(v.metadata);
  const out = el('span', { role: 'status' });
  return el('form', { id: 'edit-form', class: 'edit', onsubmit: async (e) => {
    e.preventDefault();
    try {
      const saved = await api('PATCH', `videos/${v.id}`, { title: title.value, description: desc.value, metadata: metaParse(meta.value) });
      out.textContent = 'Saved.';
      refresh(saved);
    } catch (err) { out.replaceChildren(errorBox(err)); }
  } }, el('div', {}, el('label', { for: 'edit-title', text: 'Title' }), title),
  el('div', {}, el('label', { for: 'edit-desc', text: 'Description' }), desc),
  el('div', {}, el('label', { for: 'edit-meta', text: 'Metadata' }), meta,
    el('span', { id: 'edit-meta-help', class: 'muted', text: 'key=value, one per line (up to 32)' })),
  el('button', { type: 'submit', text: 'Save' }), out);
}

function deleteBlock(v) {
  const confirmBox = el('div', { hidden: true, role: 'alertdialog', 'aria-labelledby': 'del-q' },
    el('p', { id: 'del-q', text: `Delete “${v.title || v.id}” and all its files? This cannot be undone.` }),
    el('button', { type: 'button', class: 'danger', id: 'delete-confirm', text: 'Delete for good', onclick: async () => {
      try { await api('DELETE', `videos/${v.id}`); toast('Video deleted'); location.hash = '#/videos'; } catch (e) { confirmBox.append(errorBox(e)); }
    } }), ' ',
    el('button', { type: 'button', id: 'delete-cancel', text: 'Cancel', onclick: () => { confirmBox.hidden = true; ask.focus(); } }));
  const ask = el('button', { type: 'button', class: 'danger', id: 'delete', text: 'Delete video…',
    onclick: () => { confirmBox.hidden = false; $('#delete-confirm', confirmBox).focus(); } });
  return el('div', {}, ask, confirmBox);
}

async function pageVideo(id) {
  view.replaceChildren(el('p', { text: 'Loading…' }));
  let shownStatus = null;
  const render = async () => {
    let v;
    try { v = await api('GET', `videos/${encodeURIComponent(id)}`); } catch (e) {
      if (e.status === 401) return signOut('The API key was refused.');
      view.replaceChildren(el('h2', { text: 'Video' }), errorBox(e), el('a', { href: '#/videos', text: 'Back to videos' }));
      return;
    }
    if (shownStatus === v.status && v.status === 'ready') return; // nothing new: keep the player playing
    if (shownStatus === v.status && v.status !== 'transcoding') return;
    shownStatus = v.status;
    cleanup.splice(1).forEach((f) => f()); // the old player, not the poll (index 0)
    const left = el('div', {}, v.playback && v.status === 'ready' ? player(v)
      : el('p', { class: 'muted', text: 'The player appears once the video is ready.' }));
    const right = el('div', {},
      el('p', {}, 'Status: ', statusCell(v)),
      editForm(v, (saved) => { $('#video-title').textContent = saved.title || saved.id; }), // the player keeps playing
      el('h3', { text: 'Source' }), probe(v.source),
      el('h3', { text: 'Renditions' }), renditions(v.renditions),
      v.playback ? [el('h3', { text: 'Playback and embed' }),
        copyField('Player page URL', v.playback.page), copyField('HLS URL', v.playback.hls),
        copyField('Embed code', `<iframe src="${v.playback.page}" width="640" height="360" allow="autoplay; fullscreen" allowfullscreen></iframe>`),
        el('p', { class: 'muted', text: `Signed URLs, valid until ${fmtTime(v.playback.expires_at)}.` })] : null,
      el('h3', { text: 'Danger zone' }), deleteBlock(v));
    view.replaceChildren(el('p', {}, el('a', { href: '#/videos', text: '← Videos' })),
      el('h2', { id: 'video-title', text: v.title || v.id }),
      el('div', { class: 'video-page', 'data-video': v.id, 'data-status': v.status }, left, right));
  };
  every(POLL_MS, render);
  await render();
}

// ---- webhooks ---------------------------------------------------------------

const EVENTS = ['video.upload.completed', 'video.ready', 'video.failed', 'video.deleted'];

async function deliveries(hook, box, cursor = null, shown = []) {
  const q = new URLSearchParams({ limit: '20' });
  if (cursor) q.set('cursor', cursor);
  let doc;
  try { doc = await api('GET', `webhooks/${encodeURIComponent(hook.id)}/deliveries?${q}`); } catch (e) { box.replaceChildren(errorBox(e)); return; }
  const rows = shown.concat((doc && doc.data) || []);
  const replay = (d) => async () => {
    try {
      await api('POST', `webhooks/${encodeURIComponent(hook.id)}/deliveries/${encodeURIComponent(d.id)}/retry`);
      toast('Replay queued');
      deliveries(hook, box);
    } catch (e) { box.append(errorBox(e)); }
  };
  const more = doc && doc.next_cursor
    ? el('button', { type: 'button', text: 'Older deliveries', onclick: () => deliveries(hook, box, doc.next_cursor, rows) }) : null;
  box.replaceChildren(el('h3', { id: 'deliveries-h', tabindex: '-1', text: `Deliveries to ${hook.url}` }), rows.length ? tableWrap('Deliveries', el('table', { id: 'deliveries' },
    el('thead', {}, el('tr', {}, ['Event', 'Video', 'Status', 'Attempts', 'Response', 'Last attempt', 'Actions'].map((h) => el('th', { scope: 'col', text: h })))),
    el('tbody', {}, rows.map((d) => el('tr', { 'data-delivery': d.id }, el('td', { text: d.event_type }),
      el('td', {}, el('a', { href: `#/videos/${d.video_id}`, text: String(d.video_id).slice(0, 8) })),
      el('td', { text: d.status + (d.last_error ? `: ${d.last_error}` : '') }), el('td', { text: String(d.attempts) }),
      el('td', { text: d.response_code === null ? '—' : `${d.response_code}${d.response_time_ms !== null ? ` in ${d.response_time_ms} ms` : ''}` }),
      el('td', { text: fmtTime(d.last_attempt_at) }),
      el('td', {}, el('button', { type: 'button', 'aria-label': `Replay the ${d.event_type} delivery of ${d.video_id}`, text: 'Replay', onclick: replay(d) }))))))) : el('p', { class: 'muted', text: 'No deliveries yet.' }), more);
  $('#deliveries-h', box).focus();
}

async function pageWebhooks() {
  const list = el('div');
  const secret = el('div', { role: 'status', id: 'hook-secret' });
  const log = el('div');
  const url = el('input', { id: 'hook-url', type: 'url', required: true, placeholder: 'https://app.example/hooks/mcloud' });
  const desc = el('input', { id: 'hook-desc', type: 'text', maxlength: '512' });
  const boxes = EVENTS.map((ev) => el('label', {}, el('input', { type: 'checkbox', name: 'events', value: ev, checked: true }), ` ${ev}`));
  const form = el('form', { id: 'hook-form', onsubmit: async (e) => {
    e.preventDefault();
    const events = boxes.map((b) => $('input', b)).filter((i) => i.checked).map((i) => i.value);
    if (!events.length) { secret.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Choose at least one event.' })); return; }
    try {
      const made = await api('POST', 'webhooks', { url: url.value, description: desc.value, events });
      secret.replaceChildren(el('p', { text: `Signing secret of ${made.url} (shown this once; verify deliveries with it, Standard Webhooks):` }),
        copyField('Signing secret', made.secret));
      url.value = '';
      desc.value = '';
      load();
    } catch (err) { secret.replaceChildren(errorBox(err)); }
  } }, el('label', { for: 'hook-url', text: 'Endpoint URL' }), url, el('label', { for: 'hook-desc', text: 'Description' }), desc,
  el('fieldset', {}, el('legend', { text: 'Events' }), boxes), el('button', { type: 'submit', class: 'primary', text: 'Add endpoint' }));

  async function load() {
    let doc;
    try { doc = await api('GET', 'webhooks'); } catch (e) {
      if (e.status === 401) return signOut('The API key was refused.');
      if (e.unavailable) { view.replaceChildren(el('h2', { text: 'Webhooks' }), unavailable('Webhooks')); return; }
      list.replaceChildren(errorBox(e));
      return;
    }
    const hooks = (doc && doc.data) || [];
    list.replaceChildren(hooks.length ? tableWrap('Webhook endpoints', el('table', { id: 'webhooks' },
      el('thead', {}, el('tr', {}, ['URL', 'Events', 'State', 'Actions'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, hooks.map((h) => el('tr', { 'data-webhook': h.id }, el('td', {}, h.url, h.description ? el('div', { class: 'muted', text: h.description }) : null),
        el('td', { text: (h.events || []).join(', ') }),
        el('td', { text: h.enabled ? 'enabled' : `disabled${h.disabled_reason ? `: ${h.disabled_reason}` : ''}` }),
        el('td', {}, el('button', { type: 'button', 'aria-label': `Deliveries to ${h.url}`, text: 'Deliveries', onclick: () => deliveries(h, log) }), ' ',
          el('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${h.url}`, text: 'Remove', onclick: async () => {
            if (!window.confirm(`Remove the endpoint ${h.url}? No more events are sent to it.`)) return;
            try { await api('DELETE', `webhooks/${encodeURIComponent(h.id)}`); log.replaceChildren(); load(); toast('Endpoint removed'); } catch (e) { list.append(errorBox(e)); }
          } }))))))) : el('p', { class: 'muted', text: 'No endpoints yet.' }));
  }
  view.replaceChildren(el('h2', { text: 'Webhooks' }), form, secret, el('h3', { text: 'Endpoints' }), list, log);
  await load();
}

// ---- usage ------------------------------------------------------------------

async function pageUsage() {
  const to = new Date();
  const from = new Date(to.getTime() - 30 * 86400000);
  const q = new URLSearchParams({ from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10), granularity: 'day' });
  view.replaceChildren(el('h2', { text: 'Usage' }), el('p', { text: 'Loading…' }));
  let doc;
  try { doc = await api('GET', `usage?${q}`); } catch (e) {
    if (e.status === 401) return signOut('The API key was refused.');
    view.replaceChildren(el('h2', { text: 'Usage' }), e.unavailable ? unavailable('Usage figures') : errorBox(e));
    return;
  }
  const rows = (doc && doc.data) || [];
  const series = ['videos_created', 'videos_deleted', 'uploads_completed', 'minutes_uploaded', 'minutes_transcoded', 'api_calls']
    .filter((k) => rows.some((r) => typeof r[k] === 'number'));
  const label = (k) => k.replace(/_/g, ' ');
  const keys = {};
  for (const r of rows) for (const [k, n] of Object.entries(r.api_calls_by_key || {})) keys[k] = (keys[k] || 0) + n;
  const chart = el('div', { class: 'chart', id: 'usage-chart', role: 'img', 'aria-label': `Chart per day from ${doc.from} to ${doc.to}: ${series.map(label).join(', ')} (the same figures are in the table below)` });
  const table = tableWrap('Usage per day', el('table', { id: 'usage' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Day' }), series.map((k) => el('th', { scope: 'col', text: label(k) })),
      el('th', { scope: 'col', text: 'bytes uploaded' }))),
    el('tbody', {}, rows.map((r) => el('tr', {}, el('td', { text: r.date }), series.map((k) => el('td', { text: String(r[k]) })),
      el('td', { text: fmtBytes(r.bytes_uploaded) }))))));
  view.replaceChildren(el('h2', { text: 'Usage' }),
    el('p', { id: 'usage-summary', text: `${doc.from} to ${doc.to} (UTC days). Stored now: ${fmtBytes(doc.bytes_stored)}.` }),
    chart, el('h3', { text: 'Per day' }), table,
    el('h3', { text: 'API calls per key' }), Object.keys(keys).length
      ? tableWrap('API calls per key', el('table', { id: 'usage-keys' }, el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Key' }), el('th', { scope: 'col', text: 'Calls' }))),
        el('tbody', {}, Object.entries(keys).map(([k, n]) => el('tr', {}, el('td', { text: k }), el('td', { text: String(n) }))))))
      : el('p', { class: 'muted', text: 'No API calls counted in this range.' }));
  if (window.uPlot && rows.length) {
    const xs = rows.map((r) => Date.parse(`${r.date}T00:00:00Z`) / 1000);
    const width = Math.max(280, Math.min(view.clientWidth || 600, 1100));
    const u = new window.uPlot({ width, height: 260, series: [{}, ...series.map((k, i) => ({ label: label(k), stroke: `hsl(${(i * 67) % 360} 70% 36%)`, width: 2 }))] },
      [xs, ...series.map((k) => rows.map((r) => r[k]))], chart);
    cleanup.push(() => u.destroy());
  }
}

// ---- API keys -----------------------------------------------------------------

const SCOPES = ['videos:read', 'videos:write', 'webhooks', 'admin'];

// The tenant's keys (scope admin): create one (its secret shown this once),
// list them, revoke one after confirming. A key without the admin scope is
// told so instead of an error.
async function pageKeys() {
  const list = el('div');
  const secret = el('div', { role: 'status', id: 'key-secret' });
  const name = el('input', { id: 'key-name', type: 'text', maxlength: '255', placeholder: 'backend' });
  const boxes = SCOPES.map((sc) => el('label', {}, el('input', { type: 'checkbox', name: 'scopes', value: sc, checked: sc.startsWith('videos') }), ` ${sc}`));
  const form = el('form', { id: 'key-form', onsubmit: async (e) => {
    e.preventDefault();
    const scopes = boxes.map((b) => $('input', b)).filter((i) => i.checked).map((i) => i.value);
    if (!scopes.length) { secret.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Choose at least one scope.' })); return; }
    try {
      const made = await api('POST', 'api-keys', { name: name.value, scopes });
      secret.replaceChildren(el('p', { text: `The new key ${made.name || made.prefix} (shown this once: only its hash is kept, store it now):` }),
        copyField('API key', made.key));
      name.value = '';
      load();
    } catch (err) { secret.replaceChildren(errorBox(err)); }
  } }, el('label', { for: 'key-name', text: 'Name' }), name,
  el('fieldset', {}, el('legend', { text: 'Scopes' }), boxes), el('button', { type: 'submit', class: 'primary', text: 'Create key' }));

  async function load() {
    let doc;
    try { doc = await api('GET', 'api-keys'); } catch (e) {
      if (e.status === 401) return signOut('The API key was refused.');
      if (e.status === 403) {
        view.replaceChildren(el('h2', { text: 'API keys' }), el('p', { class: 'unavailable', 'data-forbidden': '',
          text: 'Managing API keys needs a key with the admin scope; the one you signed in with lacks it.' }));
        return;
      }
      if (e.unavailable) { view.replaceChildren(el('h2', { text: 'API keys' }), unavailable('API keys')); return; }
      list.replaceChildren(errorBox(e));
      return;
    }
    const mine = apiKey.get() || '';
    const keys = (doc && doc.data) || [];
    list.replaceChildren(keys.length ? tableWrap('API keys', el('table', { id: 'keys' },
      el('thead', {}, el('tr', {}, ['Name', 'Prefix', 'Scopes', 'Created', 'State', 'Actions'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, keys.map((k) => el('tr', { 'data-key': k.id, 'data-revoked': k.revoked_at ? 'true' : 'false' },
        el('td', { text: (k.name || '—') + (mine.startsWith(k.prefix) ? ' (this session)' : '') }),
        el('td', {}, el('code', { text: k.prefix })),
        el('td', { text: (k.scopes || []).join(', ') }),
        el('td', { text: fmtTime(k.created_at) }),
        el('td', { class: 'state', text: k.revoked_at ? `revoked ${fmtTime(k.revoked_at)}` : 'active' }),
        el('td', {}, k.revoked_at ? null : el('button', { type: 'button', class: 'danger', 'aria-label': `Revoke the key ${k.name || k.prefix}`, text: 'Revoke', onclick: async () => {
          const self = mine.startsWith(k.prefix);
          if (!window.confirm(`Revoke the key ${k.name || k.prefix}? Every call with it is refused from now on.` +
            (self ? ' It is the key of this session: you will be signed out.' : ''))) return;
          try {
            await api('DELETE', `api-keys/${encodeURIComponent(k.id)}`);
            if (self) return signOut('You revoked the key of this session.');
            toast('Key revoked');
            load();
          } catch (e) { list.append(errorBox(e)); }
        } }))))))) : el('p', { class: 'muted', text: 'No keys.' }));
  }
  view.replaceChildren(el('h2', { text: 'API keys' }), form, secret, el('h3', { text: 'Keys' }), list);
  await load();
}

// ---- shell ------------------------------------------------------------------

function signOut(reason) {
  apiKey.clear();
  route();
  if (reason) $('#signin-error').textContent = reason;
}

async function route() {
  cleanup.forEach((f) => f());
  cleanup = [];
  const signedIn = !!apiKey.get();
  $('#signin').hidden = signedIn;
  $('#nav').hidden = !signedIn;
  $('#signout').hidden = !signedIn;
  if (!signedIn) { view.replaceChildren(); $('#apikey').focus(); return; }
  const [path, query] = (location.hash.slice(1) || '/videos').split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${parts[0]}`) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  document.title = `${parts[0] || 'videos'} — mcloud console`;
  if (parts[0] === 'videos' && parts[1]) return pageVideo(decodeURIComponent(parts[1]));
  if (parts[0] === 'upload') return pageUpload();
  if (parts[0] === 'webhooks') return pageWebhooks();
  if (parts[0] === 'usage') return pageUsage();
  if (parts[0] === 'keys') return pageKeys();
  return pageVideos(params);
}

$('#signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const key = $('#apikey').value.trim();
  apiKey.set(key);
  try {
    await api('GET', 'videos?limit=1');
    $('#apikey').value = '';
    $('#signin-error').textContent = '';
    route();
  } catch (err) {
    apiKey.clear();
    $('#signin-error').textContent = err.status === 401 ? 'This API key is not valid (revoked or mistyped).'
      : err.status === 403 ? 'This key lacks the videos:read scope.' : `Sign-in failed: ${err.message}`;
  }
});
$('#signout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', route);
route();
window.mcloudConsole = { uploads };
