/* Fuzz target: the console's path mapping (api/console.h). Any input is
 * read as a request path; an accepted one must name a file inside the
 * console directory: under /console/, no "..", no segment starting with '.',
 * no absolute path, no byte outside the allowed set. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "api/console.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char rel[MC_API_CONSOLE_PATH_MAX];
    const char *type = mc_api_console_file((const char *)data, size, rel, sizeof rel);
    if (!type) return 0;
    size_t n = strlen(rel);
    if (n == 0 || n >= sizeof rel || rel[0] == '/' || rel[0] == '.' || rel[n - 1] == '/')
        __builtin_trap();
    if (strstr(rel, "/.") || strstr(rel, "//") || strstr(rel, "..")) __builtin_trap();
    if (size < 9 || memcmp(data, "/console/", 9) != 0) __builtin_trap();
    if (size > 9 && (n != size - 9 || memcmp(rel, data + 9, n) != 0)) __builtin_trap();
    return 0;
}
