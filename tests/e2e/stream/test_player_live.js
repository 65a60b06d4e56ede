'use strict';
// test_player_live.js URLS_JSON RELEASE PLAYING SECONDS MODE — the browser
// half of live_player.py: a video that is still transcoding (its job held by
// the test-only hold) plays in Debian's chromium driven by playwright-core.
//
//   MODE release: the page says "still processing"; hls.js plays past 2 s
//     while the job is provably held (the release file does not exist yet);
//     then RELEASE is created and playback goes on across the switch of the
//     growing EVENT playlists to VOD (one playlist URL answered both ways)
//     to the end of the video, with no fatal hls.js error.
//   MODE retry: after playing past 2 s, PLAYING is created; the driver kills
//     the worker and a second one retries the job. Playback must reach the
//     end anyway (the page restarts hls.js from the master once attempt 1
//     is gone).
// In both modes no playlist URL ever answers fewer segments than before,
// and growing playlists carry a short Cache-Control max-age.

const fs = require('fs');
const { chromium } = require('playwright-core');
const { check, info, exitWithSummary } = require('../report');

const [urlsJson, releaseFile, playingFile, secondsArg, mode] = process.argv.slice(2);
const urls = JSON.parse(urlsJson);
const SECONDS = Number(secondsArg);
const TIMEOUT_MS = 240 * 1000; // a hang guard, not a speed bound
const chromiumBin = process.env.MCLOUD_CHROMIUM || '/usr/bin/chromium';

function segmentsOf(text) { return text.split('\n').filter((l) => l && !l.startsWith('#')); }

async function state(page) {
  return page.evaluate(() => {
    const v = document.getElementById('hls');
    const p = window.mcloudPlayer || {};
    return { t: v.currentTime, ended: v.ended, paused: v.paused, fatal: p.fatal, restarts: p.restarts,
      errors: (p.errors || []).slice(-5), mode: p.mode };
  });
}

async function waitUntil(page, what, cond) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const s = await state(page);
    if (cond(s)) return s;
    if (Date.now() > deadline) throw new Error(`${what}: not reached; last state ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main() {
  const browser = await chromium.launch({ executablePath: chromiumBin,
    args: ['--no-sandbox', '--autoplay-policy=no-user-gesture-required'] });
  const page = await browser.newPage();
  const playlists = {}; // url -> { counts: [], event: bool, vod: bool }
  const problems = [];
  const cacheControls = [];
  page.on('response', async (res) => {
    const url = res.url().split('?')[0];
    if (!/\/hls\/a\/[^/]+\/[^/]+\/index\.m3u8$/.test(url) || res.status() !== 200) return;
    let text;
    try { text = await res.text(); } catch (_) { return; }
    const p = playlists[url] || (playlists[url] = { counts: [], event: false, vod: false, last: [] });
    const segs = segmentsOf(text);
    if (segs.slice(0, p.last.length).join() !== p.last.join()) problems.push(`${url} shrank or changed`);
    p.last = segs;
    p.counts.push(segs.length);
    if (/#EXT-X-PLAYLIST-TYPE:EVENT/.test(text)) {
      p.event = true;
      cacheControls.push((await res.allHeaders())['cache-control']);
    }
    if (/#EXT-X-ENDLIST/.test(text)) p.vod = true;
  });
  try {
    const resp = await page.goto(urls.page, { waitUntil: 'load' });
    check(resp && resp.status() === 200, 'the page of the transcoding video answers 200', resp && resp.status());
    const processing = await page.evaluate(() => ({
      cfg: JSON.parse(document.getElementById('mcloud-config').textContent).processing,
      shown: !document.getElementById('processing').hidden,
      text: document.getElementById('processing').textContent }));
    check(processing.cfg === true && processing.shown && /still processing/i.test(processing.text),
      'the page says the video is still processing', JSON.stringify(processing));
    const mode0 = (await state(page)).mode;
    if (!check(mode0 === 'hls.js', 'the page drives HLS with hls.js (served from /static/hls.min.js)', mode0)) {
      throw new Error('no hls.js on the page: run scripts/bootstrap.sh web');
    }
    await page.evaluate(() => { const v = document.getElementById('hls'); v.muted = true; v.play().catch(() => {}); });
    const s1 = await waitUntil(page, 'hls.js past 2 s while the job is held', (s) => s.t > 2);
    check(s1.mode === 'hls.js' && s1.t > 2, `hls.js plays the growing HLS: currentTime ${s1.t.toFixed(2)} s`);
    if (mode === 'release') {
      check(!fs.existsSync(releaseFile), 'playback started while the job was still held (not released yet)');
      fs.writeFileSync(releaseFile, '');
      info('job released');
    } else {
      fs.writeFileSync(playingFile, '');
      info('playing: the driver kills the worker now');
    }
    const s2 = await waitUntil(page, `playback to the end (${SECONDS} s)`, (s) => s.ended || s.t > SECONDS - 1);
    check(s2.ended || s2.t > SECONDS - 1, `played to the end: currentTime ${s2.t.toFixed(2)} s, ended ${s2.ended}`);
    if (mode === 'release') {
      check(s2.fatal === false && s2.restarts === 0, 'no fatal hls.js error and no restart', JSON.stringify(s2.errors));
      const crossed = Object.entries(playlists).filter(([, p]) => p.event && p.vod);
      check(crossed.length >= 1, 'a rung playlist was read as EVENT and later as VOD with ENDLIST (the switch was crossed)',
        JSON.stringify(playlists, (k, v) => (k === 'last' ? undefined : v)));
    } else {
      // stuck at attempt 1's edge, it can only have got further by a restart
      check(s2.restarts >= 1 && s2.fatal === false,
        `the page restarted hls.js from the master once attempt 1 was gone (${s2.restarts} restart(s)), no fatal error`,
        JSON.stringify(s2.errors));
    }
    check(Object.keys(playlists).length >= 1 && problems.length === 0, 'no playlist URL ever shrank', problems.join('; '));
    check(cacheControls.length > 0 && cacheControls.every((c) => /max-age=2\b/.test(c || '')),
      `growing playlists are cached about half a segment (${cacheControls.length} answers)`, JSON.stringify(cacheControls));
  } catch (e) {
    check(false, e.message);
  }
  await browser.close();
}

main().catch((e) => check(false, e.message)).finally(exitWithSummary);
