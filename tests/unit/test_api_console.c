/* Unit tests of the console's path mapping (api/console.h): the page, its
 * modules and the pinned libraries are served with their types; traversal,
 * dot files, escapes, directories, manifests and other prefixes are not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/console.h"

static const char *map(const char *path, char *rel) {
    return mc_api_console_file(path, strlen(path), rel, MC_API_CONSOLE_PATH_MAX);
}

static void test_served(void **state) {
    (void)state;
    char rel[MC_API_CONSOLE_PATH_MAX];
    assert_string_equal(map("/console/", rel), "text/html; charset=utf-8");
    assert_string_equal(rel, "index.html");
    assert_string_equal(map("/console/app.js", rel), "text/javascript; charset=utf-8");
    assert_string_equal(rel, "app.js");
    assert_string_equal(map("/console/console.css", rel), "text/css; charset=utf-8");
    assert_string_equal(map("/console/node_modules/hls.js/dist/hls.min.js", rel),
                        "text/javascript; charset=utf-8");
    assert_string_equal(rel, "node_modules/hls.js/dist/hls.min.js");
    assert_true(mc_api_console_is_vendor(rel));
    assert_non_null(map("/console/node_modules/uplot/dist/uPlot.min.css", rel));
    assert_false(mc_api_console_is_vendor("app.js"));
}

static void test_refused(void **state) {
    (void)state;
    char rel[MC_API_CONSOLE_PATH_MAX];
    const char *bad[] = {
        "/console", "/consolex/app.js", "/v1/console/app.js", "", "/console/../api.h",
        "/console/node_modules/../../main.c", "/console/.hidden.js", "/console/a/.b.js",
        "/console//app.js", "/console/dir/", "/console/package.json",
        "/console/package-lock.json", "/console/app.js%00", "/console/app js",
        "/console/app.c", "/console/\\..\\x.js", "/console/app.jsx", "/console/.js", "/console/a..b.js", "/console/node_modules/x../y.js",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (map(bad[i], rel) != NULL) fail_msg("accepted %s", bad[i]);
    }
    char longp[MC_API_CONSOLE_PATH_MAX + 32];
    memcpy(longp, "/console/", 9);
    memset(longp + 9, 'a', sizeof longp - 9 - 4);
    memcpy(longp + sizeof longp - 4, ".js", 4);
    assert_null(map(longp, rel));
    /* a NUL inside the length is a byte like any other: refused */
    assert_null(mc_api_console_file("/console/a.js\0.js", 17, rel, sizeof rel));
    char small[4];
    assert_null(mc_api_console_file("/console/app.js", 15, small, sizeof small));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_served),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
