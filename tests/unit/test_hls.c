/* HLS text and bit rates: media playlist parsing, peak/average bandwidth,
 * the avc1 codec string, the master playlist. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "transcode/hls.h"

static const char *media_text =
    "#EXTM3U\n"
    "#EXT-X-VERSION:7\n"
    "#EXT-X-TARGETDURATION:4\n"
    "#EXT-X-MEDIA-SEQUENCE:1\n"
    "#EXT-X-PLAYLIST-TYPE:VOD\n"
    "#EXT-X-MAP:URI=\"init.mp4\"\n"
    "#EXTINF:4.000000,\n"
    "seg_00001.m4s\n"
    "#EXTINF:4.000000,\r\n"
    "seg_00002.m4s\r\n"
    "#EXTINF:0.033333,\n"
    "seg_00003.m4s\n"
    "#EXT-X-ENDLIST\n";

static void test_media_playlist_parse(void **state) {
    (void)state;
    mc_hls_media m;
    mc_err err = {0};
    assert_int_equal(mc_hls_media_parse(media_text, &m, &err), 0);
    assert_int_equal(m.target_duration, 4);
    assert_int_equal(m.n_segments, 3);
    assert_string_equal(m.segments[0].uri, "seg_00001.m4s");
    assert_string_equal(m.segments[1].uri, "seg_00002.m4s");
    /* the EXTINF value parsed from the playlist text: 0.033333 s */
    assert_float_equal(m.segments[2].duration, 0.03335, 0.00005);
    mc_hls_media_free(&m);
}

static void test_media_playlist_rejects(void **state) {
    (void)state;
    mc_hls_media m;
    mc_err err = {0};
    assert_int_equal(mc_hls_media_parse("hello\n", &m, &err), -1);
    assert_int_equal(mc_hls_media_parse("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-ENDLIST\n", &m, &err), -1);
    assert_string_equal(err.msg, "media playlist lists no segment");
    assert_int_equal(mc_hls_media_parse("#EXTM3U\n#EXT-X-TARGETDURATION:4\nseg.m4s\n", &m, &err), -1);
    assert_string_equal(err.msg, "media playlist: segment seg.m4s has no duration");
}

static void test_rates_ignore_a_lone_short_tail(void **state) {
    (void)state;
    mc_hls_media m;
    mc_err err = {0};
    assert_int_equal(mc_hls_media_parse(media_text, &m, &err), 0);
    m.segments[0].bytes = 500000;   /* 1 Mb/s */
    m.segments[1].bytes = 1000000;  /* 2 Mb/s */
    m.segments[2].bytes = 50000;    /* a lone keyframe: 12 Mb/s over 1/30 s */
    mc_hls_rates r;
    mc_hls_rates_compute(&m, &r);
    /* the tail only counts together with segment 2: 1.05 MB over 4.0333 s */
    assert_int_equal(r.peak_bps, 2082645);
    assert_int_equal(r.average_bps, 1543569); /* 1.55 MB over 8.0333 s, rounded up */
    /* the sum of the playlist's EXTINF values: 8.0333 s of media */
    assert_float_equal(r.duration_s, 8.035, 0.005);
    mc_hls_media_free(&m);
}

static void test_rates_of_a_very_short_playlist(void **state) {
    (void)state;
    mc_hls_segment seg = {.uri = "a.m4s", .duration = 1.0, .bytes = 1000};
    mc_hls_media m = {.target_duration = 4, .n_segments = 1, .segments = &seg};
    mc_hls_rates r;
    mc_hls_rates_compute(&m, &r);
    assert_int_equal(r.peak_bps, 8000);
    assert_int_equal(r.average_bps, 8000);
}

static void test_avc_codec_string(void **state) {
    (void)state;
    char s[32];
    /* Annex B: SPS (High, level 4.0) then PPS */
    const uint8_t annexb[] = {0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0, 0, 0, 1, 0x68, 0xeb};
    assert_int_equal(mc_hls_avc_codec(annexb, sizeof annexb, s, sizeof s), 0);
    assert_string_equal(s, "avc1.640028");
    /* avcC: Main, constraint flags 0x40, level 3.0 */
    const uint8_t avcc[] = {1, 0x4d, 0x40, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x4d, 0x40, 0x1e};
    assert_int_equal(mc_hls_avc_codec(avcc, sizeof avcc, s, sizeof s), 0);
    assert_string_equal(s, "avc1.4d401e");
    const uint8_t pps_only[] = {0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb, 0x22};
    assert_int_equal(mc_hls_avc_codec(pps_only, sizeof pps_only, s, sizeof s), -1);
    assert_int_equal(mc_hls_avc_codec(NULL, 0, s, sizeof s), -1);
}

static void test_master_playlist(void **state) {
    (void)state;
    mc_hls_variant v[2] = {
        {.uri = "720p/index.m3u8", .bandwidth = 3000000, .average_bandwidth = 2500000,
         .width = 1280, .height = 720, .frame_rate = 30000.0 / 1001, .codecs = "avc1.64001f,mp4a.40.2"},
        {.uri = "audio/index.m3u8", .bandwidth = 130000, .average_bandwidth = 128500,
         .codecs = "mp4a.40.2"},
    };
    char *text = mc_hls_master(v, 2);
    assert_non_null(text);
    assert_string_equal(text,
                        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                        "#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2500000,"
                        "RESOLUTION=1280x720,FRAME-RATE=29.970,CODECS=\"avc1.64001f,mp4a.40.2\"\n"
                        "720p/index.m3u8\n"
                        "#EXT-X-STREAM-INF:BANDWIDTH=130000,AVERAGE-BANDWIDTH=128500,CODECS=\"mp4a.40.2\"\n"
                        "audio/index.m3u8\n");
    free(text);
}

static void test_playlist_retype(void **state) {
    (void)state;
    const char *event = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:1\n"
                        "#EXT-X-PLAYLIST-TYPE:EVENT\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.500000,\n"
                        "seg_00001.m4s\n";
    char *grown = mc_hls_playlist_retype(event, "EVENT", 4);
    assert_non_null(grown);
    assert_non_null(strstr(grown, "#EXT-X-TARGETDURATION:4\n"));
    assert_non_null(strstr(grown, "#EXT-X-PLAYLIST-TYPE:EVENT\n"));
    assert_non_null(strstr(grown, "seg_00001.m4s\n"));
    free(grown);
    /* the final text back to VOD: only the type line changes */
    char *vod = mc_hls_playlist_retype(event, "VOD", 0);
    assert_non_null(vod);
    assert_int_equal(strlen(vod), strlen(event) - 2);
    assert_non_null(strstr(vod, "#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"));
    free(vod);
    assert_null(mc_hls_playlist_retype("#EXTM3U\n#EXTINF:4,\nseg_1.m4s\n", "VOD", 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_media_playlist_parse),
        cmocka_unit_test(test_media_playlist_rejects),
        cmocka_unit_test(test_rates_ignore_a_lone_short_tail),
        cmocka_unit_test(test_rates_of_a_very_short_playlist),
        cmocka_unit_test(test_avc_codec_string),
        cmocka_unit_test(test_master_playlist),
        cmocka_unit_test(test_playlist_retype),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
