/* live.h — progressive HLS publishing: a video plays while it transcodes.
 *
 * Each rung tells the publisher after every segment it committed (the
 * segment is in the sink by then) with the growing EVENT form of its media
 * playlist. Nothing is published until every rung has its first segment;
 * then every rung playlist and the master playlist go out at once (so
 * adaptive switching works from the start), and from then on each rung's
 * playlist is rewritten as it grows, never with fewer segments than before.
 * The engine publishes the final VOD playlists and master at the end, as
 * without this; the early master's bit rates are measured on the segments
 * written so far. One lock serialises the publisher's writes, so two writes
 * of one playlist never race in the sink. */
#ifndef MCLOUD_TRANSCODE_LIVE_H
#define MCLOUD_TRANSCODE_LIVE_H

#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"
#include "transcode/engine.h"
#include "transcode/hls.h"
#include "transcode/sink.h"

typedef struct mc_live_rung {
    char playlist[MC_TRANSCODE_NAME_MAX];   /* "hls/720p/index.m3u8" */
    char uri[MC_TRANSCODE_NAME_MAX];        /* "720p/index.m3u8", as the master names it */
    char codecs[64];
    mc_hls_variant variant;                 /* bit rates filled in as segments come */
    char *pending;                          /* EVENT text not yet published */
    int segments;                           /* in the newest text seen */
    int published;                          /* in the text last written */
    double seconds;                         /* of the newest text seen */
} mc_live_rung;

typedef struct mc_live {
    pthread_mutex_t lock;
    const mc_sink *sink;
    int n_rungs;
    mc_live_rung rungs[MC_LADDER_MAX_RUNGS];
    bool master_written;
    double published_s;                     /* the shortest rung, once the master is out */
    mc_transcode_playable_fn *on_playable;
    void *playable_ud;
    bool failed;
} mc_live;

void mc_live_init(mc_live *l, const mc_sink *sink, mc_transcode_playable_fn *on_playable, void *ud);
/* Describes rung i (before the rungs start): its playlist name and its
 * variant without bit rates (codecs is copied). */
void mc_live_add_rung(mc_live *l, const char *playlist, const char *uri, const mc_hls_variant *v);
/* Rung i has `segments` segments, `seconds` long, in event_text (taken:
 * freed by the publisher). Publishes what can be published. */
int mc_live_update(mc_live *l, int i, char *event_text, int segments, double seconds,
                   const mc_hls_rates *rates, mc_err *err);
/* Segments every rung has published (0 before the master is out). */
int mc_live_published_segments(mc_live *l);
void mc_live_destroy(mc_live *l);

#endif
