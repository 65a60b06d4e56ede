/* Fuzz target: JSON request bodies through mc_json_parse_object and the typed
 * field readers every API handler uses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mc_err err = {0};
    json_t *doc = mc_json_parse_object((const char *)data, size, &err);
    if (!doc) return 0;
    const char *s;
    long long n;
    bool b;
    mc_json_get_string(doc, "title", false, NULL, &s, &err);
    mc_json_get_int(doc, "size", false, 0, 0, 1LL << 40, &n, &err);
    mc_json_get_bool(doc, "public", false, false, &b, &err);
    char *text = mc_json_dump(doc);
    free(text);
    json_decref(doc);
    return 0;
}
