/* page.c — the player page: stream/web/player.html with its one placeholder,
 * {{config}}, replaced by the video's title and the relative URLs of its
 * HLS master playlist, poster and progressive rungs; "processing" when the
 * video plays while it transcodes (only its growing HLS exists then). The page sits under the
 * signed credential, so those relative URLs inherit it. */
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "stream/stream.h"


/* JSON inside <script type="application/json">: a '<' could close the
 * element ("</script>"), so every one is written as \u003c (it can only
 * occur inside strings, where the escape means the same). */
static char *script_safe(const char *json) {
    size_t n = 0;
    for (const char *p = json; *p; p++) n += *p == '<' ? 6 : 1;
    char *out = malloc(n + 1), *w = out;
    if (!out) return NULL;
    for (const char *p = json; *p; p++) {
        if (*p == '<') {
            memcpy(w, "\\u003c", 6);
            w += 6;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return out;
}

static char *config_json(mc_stream_server *srv, const char *video_id, const mc_stream_video *video,
                         mc_err *err) {
    json_t *rungs = mc_stream_videos_rungs(srv->videos, video_id, video, err);
    if (!rungs) return NULL;
    /* still processing: the growing HLS only (no MP4 and no poster yet) */
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b}", "video", video_id, "title",
                            video->title[0] ? video->title : video_id, "hls", "hls/master.m3u8",
                            "poster", video->ready ? "thumbs/poster.jpg" : "", "mp4", rungs,
                            "processing", !video->ready);
    char *text = cfg ? mc_json_dump(cfg) : NULL;
    json_decref(cfg);
    if (!text) {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    char *safe = script_safe(text);
    free(text);
    if (!safe) mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    return safe;
}

char *mc_stream_page_render(mc_stream_server *srv, const char *video_id,
                            const mc_stream_video *video, size_t *len, mc_err *err) {
    const char *tpl = srv->page_template;
    const char *at = tpl + srv->page_config_at;
    char *cfg = config_json(srv, video_id, video, err);
    if (!cfg) return NULL;
    size_t head = (size_t)(at - tpl), cfg_len = strlen(cfg);
    const char *tail = at + strlen(MC_STREAM_PAGE_PLACEHOLDER);
    size_t tail_len = strlen(tail);
    char *html = malloc(head + cfg_len + tail_len + 1);
    if (html) {
        memcpy(html, tpl, head);
        memcpy(html + head, cfg, cfg_len);
        memcpy(html + head + cfg_len, tail, tail_len + 1);
        *len = head + cfg_len + tail_len;
    } else {
        mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    }
    free(cfg);
    return html;
}
