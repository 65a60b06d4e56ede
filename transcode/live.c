/* live.c — progressive HLS publishing (see live.h). */
#include "transcode/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mc_live_init(mc_live *l, const mc_sink *sink, mc_transcode_playable_fn *on_playable, void *ud) {
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    l->sink = sink;
    l->on_playable = on_playable;
    l->playable_ud = ud;
}

void mc_live_add_rung(mc_live *l, const char *playlist, const char *uri, const mc_hls_variant *v) {
    mc_live_rung *r = &l->rungs[l->n_rungs++];
    snprintf(r->playlist, sizeof r->playlist, "%s", playlist);
    snprintf(r->uri, sizeof r->uri, "%s", uri);
    snprintf(r->codecs, sizeof r->codecs, "%s", v->codecs ? v->codecs : "");
    r->variant = *v;
    r->variant.uri = r->uri;
    r->variant.codecs = r->codecs;
}

static int put_text(mc_live *l, const char *name, const char *text, mc_err *err) {
    return mc_sink_put(l->sink, name, mc_sink_content_type(name), text, strlen(text), err);
}

static int publish_rung(mc_live *l, mc_live_rung *r, mc_err *err) {
    if (!r->pending || r->segments <= r->published) return 0; /* never a shorter playlist */
    if (put_text(l, r->playlist, r->pending, err) != 0) return -1;
    r->published = r->segments;
    free(r->pending);
    r->pending = NULL;
    return 0;
}

static int publish_master(mc_live *l, mc_err *err) {
    mc_hls_variant v[MC_LADDER_MAX_RUNGS];
    for (int i = 0; i < l->n_rungs; i++) v[i] = l->rungs[i].variant;
    char *master = mc_hls_master(v, l->n_rungs);
    if (!master) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    int rc = put_text(l, MC_TRANSCODE_MASTER, master, err);
    free(master);
    return rc;
}

static double shortest(const mc_live *l) {
    double s = l->rungs[0].seconds;
    for (int i = 1; i < l->n_rungs; i++)
        if (l->rungs[i].seconds < s) s = l->rungs[i].seconds;
    return s;
}

static int update_locked(mc_live *l, int i, mc_err *err) {
    if (!l->master_written) {
        for (int k = 0; k < l->n_rungs; k++)
            if (l->rungs[k].segments < 1) return 0; /* wait for every rung's first segment */
        for (int k = 0; k < l->n_rungs; k++)
            if (publish_rung(l, &l->rungs[k], err) != 0) return -1;
        if (publish_master(l, err) != 0) return -1;
        l->master_written = true;
    } else if (publish_rung(l, &l->rungs[i], err) != 0) {
        return -1;
    }
    double s = shortest(l);
    if (s > l->published_s) {
        l->published_s = s;
        if (l->on_playable) l->on_playable(l->playable_ud, s);
    }
    return 0;
}

int mc_live_update(mc_live *l, int i, char *event_text, int segments, double seconds,
                   const mc_hls_rates *rates, mc_err *err) {
    pthread_mutex_lock(&l->lock);
    mc_live_rung *r = &l->rungs[i];
    int rc = 0;
    if (l->failed) {
        free(event_text);
    } else if (segments > r->segments) {
        free(r->pending);
        r->pending = event_text;
        r->segments = segments;
        r->seconds = seconds;
        r->variant.bandwidth = rates->peak_bps;
        r->variant.average_bandwidth = rates->average_bps;
        rc = update_locked(l, i, err);
        if (rc != 0) l->failed = true;
    } else {
        free(event_text);
    }
    pthread_mutex_unlock(&l->lock);
    return rc;
}

int mc_live_published_segments(mc_live *l) {
    pthread_mutex_lock(&l->lock);
    int n = 0;
    if (l->master_written) {
        n = l->rungs[0].published;
        for (int i = 1; i < l->n_rungs; i++)
            if (l->rungs[i].published < n) n = l->rungs[i].published;
    }
    pthread_mutex_unlock(&l->lock);
    return n;
}

void mc_live_destroy(mc_live *l) {
    for (int i = 0; i < l->n_rungs; i++) free(l->rungs[i].pending);
    pthread_mutex_destroy(&l->lock);
    memset(l, 0, sizeof *l);
}
