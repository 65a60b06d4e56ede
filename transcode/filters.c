/* filters.c — building the video and audio filter graphs (see filters.h).
 * Each graph is one text description, sources and sinks included and named
 * (buffer@in, buffersink@rungN), parsed in one call: the text is the whole
 * truth about what a frame goes through, and it is logged at debug level. */
#include "transcode/filters.h"

#include <libavfilter/buffersink.h>
#include <libavutil/bprint.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
#include <libavutil/samplefmt.h>

#include "common/log.h"
#include "transcode/fflog.h"

static const char *rotation_filters(int rotation) {
    switch (rotation) {
    case 90: return "transpose=clock,";
    case 180: return "hflip,vflip,";
    case 270: return "transpose=cclock,";
    default: return "";
    }
}

/* select expression passing the first frame at or after each time */
static void print_thumb_select(AVBPrint *bp, const double *times, int n) {
    av_bprintf(bp, "select='");
    for (int i = 0; i < n; i++)
        av_bprintf(bp, "%sgte(t,%.6f)*not(gte(prev_t,%.6f))", i ? "+" : "", times[i], times[i]);
    av_bprintf(bp, "'");
}

static void print_video_graph(AVBPrint *bp, const mc_video_graph_spec *s, const AVFrame *f) {
    AVRational sar = s->sample_aspect.num > 0 ? s->sample_aspect : (AVRational){1, 1};
    int branches = s->n_rungs + 1;
    av_bprintf(bp, "buffer@in=video_size=%dx%d:pix_fmt=%s:time_base=%d/%d:pixel_aspect=%d/%d,",
               f->width, f->height, av_get_pix_fmt_name(f->format), s->in_time_base.num,
               s->in_time_base.den, sar.num, sar.den);
    av_bprintf(bp, "%sfps=fps=%d/%d,split=%d", rotation_filters(s->rotation),
               s->frame_rate.num, s->frame_rate.den, branches);
    for (int i = 0; i < branches; i++) av_bprintf(bp, "[b%d]", i);
    for (int i = 0; i < s->n_rungs; i++)
        av_bprintf(bp, ";[b%d]scale=w=%d:h=%d:flags=bicubic,format=yuv420p,setsar=1,buffersink@rung%d",
                   i, s->rungs[i].width, s->rungs[i].height, i);
    av_bprintf(bp, ";[b%d]", s->n_rungs);
    print_thumb_select(bp, s->thumb_times, s->n_thumb_times);
    av_bprintf(bp, ",scale=w=%d:h=%d:flags=bicubic:out_range=full,format=yuv420p,setsar=1,buffersink@thumbs",
               s->thumb_w, s->thumb_h);
}

static int build(AVFilterGraph **graph, const char *desc, const char *what, mc_err *err) {
    mc_debug("%s filter graph: %s", what, desc);
    *graph = avfilter_graph_alloc();
    if (!*graph) return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    mc_fflog_clear();
    int ret = avfilter_graph_parse_ptr(*graph, desc, NULL, NULL, NULL);
    if (ret >= 0) ret = avfilter_graph_config(*graph, NULL);
    if (ret < 0) {
        mc_err_set(err, MC_ERR_INTERNAL, "%s filter graph: %s (%s)", what, av_err2str(ret),
                   mc_fflog_last_error());
        avfilter_graph_free(graph);
        return -1;
    }
    return 0;
}

int mc_video_graph_init(mc_video_graph *g, const mc_video_graph_spec *spec,
                        const AVFrame *first, mc_err *err) {
    *g = (mc_video_graph){.n_rungs = spec->n_rungs};
    AVBPrint desc;
    av_bprint_init(&desc, 0, AV_BPRINT_SIZE_UNLIMITED);
    print_video_graph(&desc, spec, first);
    int rc = av_bprint_is_complete(&desc) ? build(&g->graph, desc.str, "video", err)
                                          : mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    av_bprint_finalize(&desc, NULL);
    if (rc != 0) return -1;
    g->src = avfilter_graph_get_filter(g->graph, "buffer@in");
    g->thumb_sink = avfilter_graph_get_filter(g->graph, "buffersink@thumbs");
    for (int i = 0; i < spec->n_rungs; i++) {
        char name[32];
        snprintf(name, sizeof name, "buffersink@rung%d", i);
        g->rung_sinks[i] = avfilter_graph_get_filter(g->graph, name);
        if (!g->rung_sinks[i] ||
            av_cmp_q(av_buffersink_get_time_base(g->rung_sinks[i]), av_inv_q(spec->frame_rate)) != 0) {
            mc_video_graph_free(g);
            return mc_err_set(err, MC_ERR_INTERNAL, "video filter graph: unexpected rung output");
        }
    }
    return 0;
}

void mc_video_graph_free(mc_video_graph *g) {
    avfilter_graph_free(&g->graph);
    *g = (mc_video_graph){0};
}

int mc_audio_graph_init(mc_audio_graph *g, AVRational in_time_base, const AVFrame *first,
                        const AVCodecContext *enc, mc_err *err) {
    *g = (mc_audio_graph){0};
    AVChannelLayout in_layout = {0};
    if (first->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
        av_channel_layout_default(&in_layout, first->ch_layout.nb_channels);
    else if (av_channel_layout_copy(&in_layout, &first->ch_layout) < 0)
        return mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    char in_desc[128], out_desc[64];
    av_channel_layout_describe(&in_layout, in_desc, sizeof in_desc);
    av_channel_layout_describe(&enc->ch_layout, out_desc, sizeof out_desc);
    av_channel_layout_uninit(&in_layout);

    AVBPrint desc;
    av_bprint_init(&desc, 0, AV_BPRINT_SIZE_UNLIMITED);
    av_bprintf(&desc, "abuffer@in=time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout='%s',",
               in_time_base.num, in_time_base.den, first->sample_rate,
               av_get_sample_fmt_name(first->format), in_desc);
    av_bprintf(&desc, "aresample=%d:async=1:first_pts=0,", enc->sample_rate);
    av_bprintf(&desc, "aformat=sample_fmts=%s:sample_rates=%d:channel_layouts='%s',abuffersink@out",
               av_get_sample_fmt_name(enc->sample_fmt), enc->sample_rate, out_desc);
    int rc = av_bprint_is_complete(&desc) ? build(&g->graph, desc.str, "audio", err)
                                          : mc_err_set(err, MC_ERR_INTERNAL, "out of memory");
    av_bprint_finalize(&desc, NULL);
    if (rc != 0) return -1;
    g->src = avfilter_graph_get_filter(g->graph, "abuffer@in");
    g->sink = avfilter_graph_get_filter(g->graph, "abuffersink@out");
    if (!g->src || !g->sink) {
        mc_audio_graph_free(g);
        return mc_err_set(err, MC_ERR_INTERNAL, "audio filter graph: missing endpoints");
    }
    av_buffersink_set_frame_size(g->sink, (unsigned)enc->frame_size);
    return 0;
}

void mc_audio_graph_free(mc_audio_graph *g) {
    avfilter_graph_free(&g->graph);
    *g = (mc_audio_graph){0};
}
