/* The transcoding ladder: presets, display geometry, rung sizes, GOP length. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "transcode/ladder.h"

static const mc_preset *preset(const char *name) {
    const mc_preset *p = mc_preset_find(name);
    assert_non_null(p);
    return p;
}

static void assert_rung(const mc_rung *r, const char *name, int w, int h) {
    assert_string_equal(r->name, name);
    assert_int_equal(r->width, w);
    assert_int_equal(r->height, h);
}

static void test_builtin_presets_are_valid(void **state) {
    (void)state;
    char why[128];
    for (const char *const *n = mc_preset_names(); *n; n++)
        assert_true(mc_preset_valid(preset(*n), why, sizeof why));
    const mc_preset *d = preset("default");
    assert_string_equal(d->x264_preset, "veryfast");
    assert_true(d->segment_s == 4.0);
    assert_int_equal(d->audio_bitrate, 128000);
    assert_int_equal(d->n_rungs, 4);
    assert_null(mc_preset_find("nope"));
    assert_null(mc_preset_find(NULL));
}

static void test_preset_validation_names_the_problem(void **state) {
    (void)state;
    char why[128];
    mc_preset p = *preset("default");
    p.rungs[2].short_side = 720;
    assert_false(mc_preset_valid(&p, why, sizeof why));
    assert_string_equal(why, "rung 3: rungs must be listed tallest first, without repeats");
    p = *preset("default");
    strcpy(p.x264_preset, "warp");
    assert_false(mc_preset_valid(&p, why, sizeof why));
    assert_string_equal(why, "unknown x264 preset");
    p = *preset("default");
    p.segment_s = 0.1;
    assert_false(mc_preset_valid(&p, why, sizeof why));
    p = *preset("default");
    p.n_rungs = 0;
    assert_false(mc_preset_valid(&p, why, sizeof why));
    p = *preset("default");
    p.rungs[0].crf = 60;
    assert_false(mc_preset_valid(&p, why, sizeof why));
    assert_string_equal(why, "rung 1: crf must be between 0 and 51");
}

static void test_full_hd_source_gets_the_whole_ladder(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    assert_int_equal(mc_ladder_compute(preset("default"), 1920, 1080, r), 4);
    assert_rung(&r[0], "1080p", 1920, 1080);
    assert_rung(&r[1], "720p", 1280, 720);
    assert_rung(&r[2], "480p", 854, 480);
    assert_rung(&r[3], "360p", 640, 360);
    assert_int_equal(r[0].spec.short_side, 1080);
    assert_int_equal(r[3].spec.maxrate_kbps, preset("default")->rungs[3].maxrate_kbps);
}

static void test_never_upscales(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    assert_int_equal(mc_ladder_compute(preset("default"), 1280, 720, r), 3);
    assert_rung(&r[0], "720p", 1280, 720);
    assert_rung(&r[2], "360p", 640, 360);
    /* a 4K source still stops at the preset's top rung */
    assert_int_equal(mc_ladder_compute(preset("default"), 3840, 2160, r), 4);
    assert_rung(&r[0], "1080p", 1920, 1080);
}

static void test_portrait_gets_portrait_rungs(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    int w, h;
    /* a phone recording: coded 1920x1080, display matrix rotated 90 degrees */
    mc_ladder_display_size(1920, 1080, 1, 1, mc_ladder_rotation(-90.0), &w, &h);
    assert_int_equal(w, 1080);
    assert_int_equal(h, 1920);
    assert_int_equal(mc_ladder_compute(preset("default"), w, h, r), 4);
    assert_rung(&r[0], "1080p", 1080, 1920);
    assert_rung(&r[1], "720p", 720, 1280);
    assert_rung(&r[2], "480p", 480, 854);
    assert_rung(&r[3], "360p", 360, 640);
}

static void test_rotation_snaps_to_quarter_turns(void **state) {
    (void)state;
    assert_int_equal(mc_ladder_rotation(0.0), 0);
    assert_int_equal(mc_ladder_rotation(-90.0), 90);
    assert_int_equal(mc_ladder_rotation(90.0), 270);
    assert_int_equal(mc_ladder_rotation(180.0), 180);
    assert_int_equal(mc_ladder_rotation(-180.0), 180);
    assert_int_equal(mc_ladder_rotation(-89.7), 90);
    assert_int_equal(mc_ladder_rotation(270.0), 90);
    assert_int_equal(mc_ladder_rotation(0.0 / 0.0), 0);
}

static void test_odd_source_keeps_a_top_rung_at_its_own_size(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    assert_int_equal(mc_ladder_compute(preset("default"), 853, 479, r), 2);
    assert_rung(&r[0], "478p", 852, 478);
    assert_int_equal(r[0].spec.short_side, 480); /* the caps of the rung it stands for */
    assert_rung(&r[1], "360p", 642, 360);        /* 853/479*360 = 641.1 */
    /* barely above a rung: no near-duplicate */
    assert_int_equal(mc_ladder_compute(preset("default"), 644, 362, r), 1);
    assert_rung(&r[0], "360p", 640, 360);
}

static void test_aspect_ratios(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    /* 4:3 */
    assert_int_equal(mc_ladder_compute(preset("default"), 1440, 1080, r), 4);
    assert_rung(&r[0], "1080p", 1440, 1080);
    assert_rung(&r[1], "720p", 960, 720);
    assert_rung(&r[2], "480p", 640, 480);
    assert_rung(&r[3], "360p", 480, 360);
    /* 21:9 at 1920 wide: 800 lines, well above 720 -> kept at its own size */
    assert_int_equal(mc_ladder_compute(preset("default"), 1920, 800, r), 4);
    assert_rung(&r[0], "800p", 1920, 800);
    assert_rung(&r[1], "720p", 1728, 720);
    assert_rung(&r[2], "480p", 1152, 480);
    assert_rung(&r[3], "360p", 864, 360);
}

static void test_tiny_source_gets_one_rung_at_its_size(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    assert_int_equal(mc_ladder_compute(preset("default"), 160, 90, r), 1);
    assert_rung(&r[0], "90p", 160, 90);
    assert_int_equal(r[0].spec.short_side, 360);
    assert_int_equal(mc_ladder_compute(preset("default"), 175, 99, r), 1);
    assert_rung(&r[0], "98p", 174, 98);
    assert_int_equal(mc_ladder_compute(preset("default"), 1, 1, r), 0);
}

static void test_sizes_are_even_and_inside_the_source(void **state) {
    (void)state;
    mc_rung r[MC_LADDER_MAX_RUNGS];
    for (int w = 100; w < 2100; w += 37) {
        for (int h = 100; h < 2100; h += 41) {
            int n = mc_ladder_compute(preset("default"), w, h, r);
            assert_true(n >= 1 && n <= 5);
            for (int i = 0; i < n; i++) {
                assert_int_equal(r[i].width % 2, 0);
                assert_int_equal(r[i].height % 2, 0);
                assert_true(r[i].width <= w && r[i].height <= h);
                if (i > 0) assert_true(r[i].width * r[i].height < r[i - 1].width * r[i - 1].height);
                double src_aspect = (double)w / h, aspect = (double)r[i].width / r[i].height;
                /* even rounding moves each side by at most one pixel */
                double slack = 1.0 / r[i].height + src_aspect / r[i].height + 0.01;
                assert_true(aspect > src_aspect - slack && aspect < src_aspect + slack);
            }
        }
    }
}

static void test_anamorphic_source_uses_display_aspect(void **state) {
    (void)state;
    int w, h;
    mc_ladder_display_size(720, 480, 32, 27, 0, &w, &h); /* NTSC widescreen DVD */
    assert_int_equal(w, 853);
    assert_int_equal(h, 480);
    mc_ladder_display_size(720, 480, 0, 1, 0, &w, &h); /* unknown SAR: square */
    assert_int_equal(w, 720);
    mc_ladder_display_size(720, 480, 32, 27, 270, &w, &h);
    assert_int_equal(w, 480);
    assert_int_equal(h, 853);
}

static void test_gop_covers_a_segment(void **state) {
    (void)state;
    assert_int_equal(mc_ladder_gop_frames(4.0, 30.0), 120);
    assert_int_equal(mc_ladder_gop_frames(4.0, 25.0), 100);
    assert_int_equal(mc_ladder_gop_frames(4.0, 30000.0 / 1001.0), 120);
    assert_int_equal(mc_ladder_gop_frames(2.0, 5.0), 10);
    assert_int_equal(mc_ladder_gop_frames(4.0, 0.1), 1);
}

static void test_thumbnail_positions(void **state) {
    (void)state;
    double poster, t[MC_LADDER_MAX_THUMBS];
    assert_int_equal(mc_ladder_thumbnails(preset("default"), 100.0, &poster, t), 4);
    assert_true(poster == 10.0);
    assert_true(t[0] == 20.0 && t[1] == 40.0 && t[2] == 60.0 && t[3] == 80.0);
    assert_int_equal(mc_ladder_thumbnails(preset("default"), 0.0, &poster, t), 0);
    assert_true(poster == 0.0);
    /* a thumbnail never sits at the very end: its frame must exist */
    mc_preset p = *preset("default");
    p.thumb_count = 1;
    assert_int_equal(mc_ladder_thumbnails(&p, 3.0, &poster, t), 1);
    assert_true(t[0] == 1.5);
}

static void test_audio_sample_rate(void **state) {
    (void)state;
    assert_int_equal(mc_ladder_audio_sample_rate(44100), 44100);
    assert_int_equal(mc_ladder_audio_sample_rate(48000), 48000);
    assert_int_equal(mc_ladder_audio_sample_rate(22050), 48000);
    assert_int_equal(mc_ladder_audio_sample_rate(96000), 48000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_presets_are_valid),
        cmocka_unit_test(test_preset_validation_names_the_problem),
        cmocka_unit_test(test_full_hd_source_gets_the_whole_ladder),
        cmocka_unit_test(test_never_upscales),
        cmocka_unit_test(test_portrait_gets_portrait_rungs),
        cmocka_unit_test(test_rotation_snaps_to_quarter_turns),
        cmocka_unit_test(test_odd_source_keeps_a_top_rung_at_its_own_size),
        cmocka_unit_test(test_aspect_ratios),
        cmocka_unit_test(test_tiny_source_gets_one_rung_at_its_size),
        cmocka_unit_test(test_sizes_are_even_and_inside_the_source),
        cmocka_unit_test(test_anamorphic_source_uses_display_aspect),
        cmocka_unit_test(test_gop_covers_a_segment),
        cmocka_unit_test(test_thumbnail_positions),
        cmocka_unit_test(test_audio_sample_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
